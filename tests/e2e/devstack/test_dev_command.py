"""``tracelink dev`` as a user runs it: everything up, then a clean stop with nothing left."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devstack.standins import free_port
from tests.support.cli import tracelink_executable

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    # A free port for the OTLP receiver: 4318 may be taken on a shared machine.
    env = {**os.environ, "NO_COLOR": "1", "TRACELINK_OTLP_PORT": str(free_port())}
    # This test is about the embedded stand-ins: no external servers.
    for variable in ("TRACELINK_KAFKA_BOOTSTRAP", "TRACELINK_ES_URL"):
        env.pop(variable, None)
    return env


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed; output so far:\n" + "".join(seen))


def _children(pid: int) -> list[int]:
    result = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(line) for line in result.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_dev_runs_the_stack_and_sigterm_stops_everything(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [tracelink_executable(), "dev", "--data-dir", str(tmp_path)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = _read_until(proc, "Ctrl-C stops everything", timeout=120)
        api_url = re.search(r"correlate API\s+(http://\S+)", out)
        es_url = re.search(r"Elasticsearch\s+(http://\S+)\s+stand-in", out)
        kafka = re.search(r"Kafka\s+127\.0\.0\.1:(\d+)\s+stand-in", out)
        assert api_url, out
        assert es_url, out
        assert kafka, out
        assert httpx.get(f"{api_url.group(1)}/readyz", timeout=10).status_code == 200
        assert httpx.get(es_url.group(1), timeout=10).status_code == 200
        # Setup ran: the log index template is there.
        templates = httpx.get(f"{es_url.group(1)}/_index_template/tracelink-logs", timeout=10)
        assert templates.status_code == 200
        # The OTLP receiver, with the line to paste into a service's environment.
        otlp = re.search(r"OTEL_EXPORTER_OTLP_ENDPOINT=(http://127\.0\.0\.1:(\d+))", out)
        assert otlp, out
        assert httpx.get(f"{otlp.group(1)}/healthz", timeout=10).status_code == 200
        children = _children(proc.pid)
        assert len(children) == 5  # kafka, elasticsearch, shipper, api, otlp receiver
        ports = [
            int(kafka.group(1)),
            int(api_url.group(1).rsplit(":", 1)[1]),
            int(otlp.group(2)),
        ]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert not [pid for pid in children if _alive(pid)]
    assert all(_port_free(port) for port in ports)


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [tracelink_executable(), "dev", "--data-dir", str(tmp_path), "--es-port", str(port)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    # Whatever had started (the Kafka stand-in) was stopped again.
    assert "Traceback" not in result.stderr
