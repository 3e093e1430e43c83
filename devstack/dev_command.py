"""``tracelink dev``: the embedded stack in the foreground until Ctrl-C or SIGTERM.

Starts the Kafka and Elasticsearch stand-ins (unless ``TRACELINK_KAFKA_BOOTSTRAP`` /
``TRACELINK_ES_URL`` name real servers), runs ``tracelink setup``, the shipper and the API,
prints what is where, and stops everything cleanly on Ctrl-C, on SIGTERM, or as soon as any
part fails. ``tracelink demo`` builds on the same options and stack.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from devstack.processes import ProcessError, free_port
from devstack.stack import DevStack, StackConfig, StackEndpoints, StackError
from tracelink.settings import ConfigError

__all__ = [
    "add_stack_arguments",
    "configure_parser",
    "describe",
    "run",
    "signals_ignored",
    "stack_from_args",
    "stop_signals",
    "wait_for_stop",
]

DEFAULT_DATA_DIR = Path(".tracelink") / "dev"

# Faster group membership than the production defaults: one local shipper, and a Ctrl-C
# should not wait long for a drain. The user's environment still wins.
_DEV_ENV_DEFAULTS = {
    "TRACELINK_KAFKA_SESSION_TIMEOUT_MS": "10000",
    "TRACELINK_DRAIN_TIMEOUT_S": "5",
}


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port")
    return value


def add_stack_arguments(parser: argparse.ArgumentParser, *, default_data_dir: Path) -> None:
    group = parser.add_argument_group("embedded stack")
    group.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir,
        help=f"where the stand-ins keep data and every part its log (default {default_data_dir})",
    )
    group.add_argument("--kafka-port", type=_port, help="Kafka stand-in port (default: free)")
    group.add_argument("--es-port", type=_port, help="Elasticsearch stand-in port (default: free)")
    group.add_argument(
        "--api-port",
        type=_port,
        help="correlate API port (default: TRACELINK_API_PORT, else a free port)",
    )
    group.add_argument(
        "--metrics-port",
        type=_port,
        help="shipper metrics/health port (default: TRACELINK_METRICS_PORT, else a free port)",
    )
    group.add_argument(
        "--otlp-host",
        help="address of the OTLP/HTTP receiver (default: TRACELINK_OTLP_HOST, else 127.0.0.1)",
    )
    group.add_argument(
        "--otlp-port",
        type=_port_or_off,
        help="OTLP/HTTP receiver port, 0 = off (default: TRACELINK_OTLP_PORT, else 4318)",
    )


def _port_or_off(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0 = off)")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser, default_data_dir=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--fresh", action="store_true", help="delete the data directory before starting"
    )


def _env_port(variable: str) -> int | None:
    text = os.environ.get(variable)
    if not text:
        return None
    try:
        return _port(text)
    except (ValueError, argparse.ArgumentTypeError):
        raise ConfigError(variable, f"{text!r} is not a TCP port") from None


def stack_from_args(args: argparse.Namespace, *, fresh: bool) -> StackConfig:
    """The stack configuration from flags over the environment; free ports where unset."""
    data_dir: Path = args.data_dir.resolve()
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    api_port = args.api_port or _env_port("TRACELINK_API_PORT") or free_port()
    metrics_port = args.metrics_port or _env_port("TRACELINK_METRICS_PORT") or free_port()
    env = {key: value for key, value in _DEV_ENV_DEFAULTS.items() if key not in os.environ}
    otlp_host, otlp_port = _otlp_address(args)
    return StackConfig.from_environment(
        data_dir,
        kafka_port=args.kafka_port,
        es_port=args.es_port,
        api_port=api_port,
        metrics_port=metrics_port,
        otlp_host=otlp_host,
        otlp_port=otlp_port,
        env=env,
    )


def _otlp_address(args: argparse.Namespace) -> tuple[str, int]:
    """The OTLP receiver's host and port: flags over ``TRACELINK_OTLP_*`` over the defaults."""
    from devstack.otlp_receiver import OtlpReceiverSettings
    from tracelink.settings import load_settings

    settings = load_settings(
        OtlpReceiverSettings, otlp_host=args.otlp_host, otlp_port=args.otlp_port
    )
    return settings.otlp_host, settings.otlp_port


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM interrupts like Ctrl-C (``KeyboardInterrupt``), so both stop cleanly."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Shutdown is bounded and must finish: a second Ctrl-C must not leave children behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_stop(failed: Callable[[], str | None]) -> int:
    """Block until Ctrl-C / SIGTERM (→ 0) or until a part of the stack fails (→ 1)."""
    try:
        while True:
            time.sleep(0.5)
            problem = failed()
            if problem:
                print(f"tracelink: {problem}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0


def describe(endpoints: StackEndpoints) -> str:
    kafka = "stand-in (Tansu)" if endpoints.kafka_is_standin else "external"
    elastic = "stand-in (noida-db)" if endpoints.es_is_standin else "external"
    lines = [
        "",
        "tracelink dev stack is up:",
        f"  Kafka           {endpoints.kafka_bootstrap:<32} {kafka}",
        f"  Elasticsearch   {endpoints.es_url:<32} {elastic}",
        f"  correlate API   {endpoints.api_url:<32} {endpoints.api_url}/docs",
        f"  shipper metrics {endpoints.metrics_url}",
    ]
    if endpoints.otlp_url:
        lines.append(
            f"  OTLP/HTTP       {endpoints.otlp_url:<32} "
            f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoints.otlp_url}"
        )
    lines += [f"  data and logs   {endpoints.data_dir}"]
    lines.extend(f"    {name:<13} {path}" for name, path in endpoints.logs.items())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = stack_from_args(args, fresh=args.fresh)
    stack = DevStack(config, say=lambda line: print(line, flush=True))
    with stop_signals():
        try:
            endpoints = stack.start()
            print(describe(endpoints), flush=True)
            print("\nCtrl-C stops everything.", flush=True)
            return wait_for_stop(stack.failed_part)
        except (ProcessError, StackError) as exc:
            print(f"tracelink dev: {exc}", file=sys.stderr)
            return 1
        finally:
            with signals_ignored():
                print("stopping …", flush=True)
                stack.stop()
