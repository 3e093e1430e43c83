"""The command line of ``python -m devstack.demo``: run a service, or drive traffic.

Services are configured by environment (``TRACELINK_DEMO_*`` and the shared
``TRACELINK_*`` variables); bad configuration exits 2 with one line naming the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from devstack.demo.settings import SERVICES, DemoSettings
from tracelink.settings import ConfigError, load_settings

__all__ = ["main"]

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8100"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.demo",
        description="Run one demo shop service, or drive orders through the gateway.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for service in SERVICES:
        commands.add_parser(service, help=f"run the {service} service (configured by env)")
    traffic = commands.add_parser("traffic", help="place orders through the gateway")
    traffic.add_argument("--gateway-url", default=DEFAULT_GATEWAY_URL, help="gateway base URL")
    traffic.add_argument("--orders", type=int, default=20, help="how many orders (default 20)")
    traffic.add_argument("--concurrency", type=int, default=4, help="orders in flight at once")
    traffic.add_argument("--seed", type=int, default=7, help="seed of the generated carts")
    traffic.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    return parser


def _progress(done: int, total: int, outcome: object) -> None:
    from devstack.demo.traffic import OrderOutcome

    assert isinstance(outcome, OrderOutcome)
    width = len(str(total))
    trace = outcome.trace_id or "-"
    print(
        f"[{done:>{width}}/{total}] {outcome.order_id or '-':<16} {outcome.status:<9} "
        f"{outcome.latency_ms:7.1f} ms  trace {trace}",
        file=sys.stderr,
    )


def _traffic(args: argparse.Namespace) -> int:
    from devstack.demo.traffic import drive_traffic

    if args.orders < 0 or args.concurrency < 1:
        print("--orders must be >= 0 and --concurrency >= 1", file=sys.stderr)
        return 2
    report = asyncio.run(
        drive_traffic(
            args.gateway_url,
            args.orders,
            concurrency=args.concurrency,
            seed=args.seed,
            progress=_progress,
        )
    )
    summary = report.to_dict()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['orders']} orders: {summary['completed']} reported completed, "
            f"{summary['lost']} of those lost, {summary['unanswered']} unanswered"
        )
        for outcome in report.lost:
            print(f"lost order {outcome.order_id}: trace {outcome.trace_id}")
    if report.outcomes and len(report.unanswered) == len(report.outcomes):
        print(f"the gateway at {args.gateway_url} did not answer", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "traffic":
        return _traffic(args)
    try:
        settings = load_settings(DemoSettings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from devstack.demo.service import run_service

    return run_service(args.command, settings)
