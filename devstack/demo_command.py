"""``tracelink demo``: replay the lost-order incident and show its correlated trace.

The dev stack plus the demo shop: drive N orders through the gateway, find an order the
customer was told is complete but that was never saved, wait until its trace's spans and
logs are in Elasticsearch, and print the correlated trace as a tree with the URLs to open.
Keeps serving until Ctrl-C; ``--once`` exits after printing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from devstack.demo.launcher import DemoServices
from devstack.demo.traffic import OrderOutcome, TrafficReport, drive_traffic
from devstack.dev_command import (
    add_stack_arguments,
    describe,
    signals_ignored,
    stack_from_args,
    stop_signals,
    wait_for_stop,
)
from devstack.processes import ProcessError
from devstack.render import render_trace
from devstack.stack import DevStack, StackEndpoints, StackError

__all__ = ["configure_parser", "run"]

DEFAULT_DATA_DIR = Path(".tracelink") / "demo"
# The services log asynchronously to Kafka and the shipper indexes in batches; the spans
# are exported every half second. This bounds the wait for one trace to be complete.
_INDEX_WAIT_S = 60.0
_MIN_SERVICES = 4


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--orders", type=_positive, default=50, help="how many orders to place (default 50)"
    )
    parser.add_argument(
        "--once", action="store_true", help="exit after printing the trace (for scripts)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated failures")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the data of an earlier demo run (default: start from empty stand-ins)",
    )
    add_stack_arguments(parser, default_data_dir=DEFAULT_DATA_DIR)


class _Progress:
    """One updating line on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, *, tty: bool) -> None:
        self.total = total
        self.tty = tty
        self.counts: dict[str, int] = {}

    def __call__(self, done: int, total: int, outcome: OrderOutcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        line = f"  orders {done}/{total}: {summary}"
        if self.tty:
            print("\r" + line, end="\n" if done == total else "", flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(line, flush=True)


def _fetch(api_url: str, trace_id: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{api_url}/correlate/{trace_id}", timeout=30)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _complete(result: dict[str, Any]) -> bool:
    summary = result.get("summary") or {}
    spans = result.get("spans") or []
    has_error_log = any(
        log.get("level") == "error" for span in spans for log in span.get("logs") or []
    )
    return len(summary.get("services") or []) >= _MIN_SERVICES and has_error_log


def wait_for_trace(api_url: str, trace_id: str, timeout: float = _INDEX_WAIT_S) -> dict[str, Any]:
    """The correlated trace once it is complete and has stopped growing (or at the timeout)."""
    deadline = time.monotonic() + timeout
    previous: tuple[int, int] | None = None
    latest: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        latest = _fetch(api_url, trace_id) or latest
        if latest is not None and _complete(latest):
            summary = latest["summary"]
            counts = (int(summary["span_count"]), int(summary["log_count"]))
            if counts == previous:
                return latest
            previous = counts
        time.sleep(1.0)
    if latest is None:
        raise StackError(f"trace {trace_id} did not appear in Elasticsearch within {timeout:.0f}s")
    return latest


def _report_traffic(report: TrafficReport) -> None:
    completed = len(report.completed)
    print(
        f"\n{len(report.outcomes)} orders placed: {completed} reported completed to the "
        f"customer, {len(report.lost)} of those never saved (lost), "
        f"{len(report.outcomes) - completed} rejected or failed visibly.",
        flush=True,
    )


def _urls(result: dict[str, Any], endpoints: StackEndpoints) -> str:
    trace_id = result["trace_id"]
    links = result.get("links") or {}
    return "\n".join(
        [
            "Open:",
            f"  the waterfall view   {endpoints.api_url}/correlate/{trace_id}/view",
            f"  the JSON             {endpoints.api_url}/correlate/{trace_id}",
            "In the compose stack (docker compose up), the same trace in:",
            f"  Jaeger UI            {links.get('jaeger', '')}",
            f"  Kibana Discover      {links.get('kibana', '')}",
        ]
    )


def _show_lost_order(report: TrafficReport, endpoints: StackEndpoints, *, color: bool) -> int:
    lost = next((o for o in report.lost if o.trace_id), None)
    if lost is None or lost.trace_id is None:
        print("no order was lost this time; run again with more --orders", file=sys.stderr)
        return 1
    print(
        f"\nLost order {lost.order_id}: the customer saw 'completed', the order does not exist."
        f"\nWaiting for its trace {lost.trace_id} to be indexed …",
        flush=True,
    )
    result = wait_for_trace(endpoints.api_url, lost.trace_id)
    print("\n" + render_trace(result, color=color) + "\n", flush=True)
    print(_urls(result, endpoints), flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    config = stack_from_args(args, fresh=not args.keep_data)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    stack = DevStack(config, say=lambda line: print(line, flush=True))
    services: DemoServices | None = None
    with stop_signals():
        try:
            endpoints = stack.start()
            print(describe(endpoints), flush=True)
            gateway = "Node.js gateway" if endpoints.otlp_url else "gateway"
            print(
                f"\nstarting the demo shop ({gateway}, order, payment, inventory, notification) …"
            )
            services = DemoServices(
                kafka_bootstrap=endpoints.kafka_bootstrap,
                es_url=endpoints.es_url,
                log_dir=config.data_dir / "logs",
                jaeger_index_prefix=os.environ.get("TRACELINK_JAEGER_INDEX_PREFIX", ""),
                log_topic=os.environ.get("TRACELINK_LOG_TOPIC", "logs"),
                events_topic=os.environ.get("TRACELINK_DEMO_EVENTS_TOPIC", "order.events"),
                seed=args.seed,
                # The Node.js gateway sends its spans and logs to the stack's OTLP receiver.
                otlp_url=endpoints.otlp_url,
            )
            services.start()
            print(f"placing {args.orders} orders through {services.gateway_url} …", flush=True)
            report = asyncio.run(
                drive_traffic(
                    services.gateway_url,
                    args.orders,
                    seed=args.seed,
                    progress=_Progress(args.orders, tty=sys.stdout.isatty()),
                )
            )
            _report_traffic(report)
            code = _show_lost_order(report, endpoints, color=color)
            print(f"\n(ready in {time.monotonic() - started:.0f} s)", flush=True)
            if code != 0 or args.once:
                return code
            print("Serving until Ctrl-C.", flush=True)
            return wait_for_stop(stack.failed_part)
        except (ProcessError, StackError) as exc:
            print(f"tracelink demo: {exc}", file=sys.stderr)
            return 1
        finally:
            with signals_ignored():
                print("stopping …", flush=True)
                if services is not None:
                    services.stop()
                stack.stop()
