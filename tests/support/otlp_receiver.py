"""The OTLP receiver as the stack runs it, for tests (a child process on a free port)."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.stack import OtlpReceiverChild
from devstack.standins import free_port


def start_receiver(
    tmp_path: Path, *, kafka: str, es_url: str, topic: str, prefix: str, **extra: str
) -> OtlpReceiverChild:
    """``python -m devstack.otlp_receiver`` on a free port, once it answers ``/healthz``."""
    port = free_port()
    env = {
        **os.environ,
        "TRACELINK_KAFKA_BOOTSTRAP": kafka,
        "TRACELINK_ES_URL": es_url,
        "TRACELINK_LOG_TOPIC": topic,
        "TRACELINK_JAEGER_INDEX_PREFIX": prefix,
        "TRACELINK_OTLP_PORT": str(port),
        **extra,
    }
    child = OtlpReceiverChild(
        "otlp-receiver", [], env=env, port=port, ready_path="/healthz", data_dir=tmp_path
    )
    return child.start(30.0)
