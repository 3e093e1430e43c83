"""The OTLP receiver as the stack runs it, for tests (a child process on a free port)."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.processes import ServerProcess, free_port
from devstack.stack import otlp_receiver_process


def start_receiver(
    tmp_path: Path, *, kafka: str, es_url: str, topic: str, prefix: str, **extra: str
) -> ServerProcess:
    """``python -m devstack.otlp_receiver`` on a free port, once it answers ``/healthz``."""
    env = {
        **os.environ,
        "TRACELINK_KAFKA_BOOTSTRAP": kafka,
        "TRACELINK_ES_URL": es_url,
        "TRACELINK_LOG_TOPIC": topic,
        "TRACELINK_JAEGER_INDEX_PREFIX": prefix,
        **extra,
    }
    receiver = otlp_receiver_process(env=env, host="127.0.0.1", port=free_port(), log_dir=tmp_path)
    return receiver.start(30.0)
