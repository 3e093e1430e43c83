"""``tracelink dev`` pointed at a secured Kafka: the same TRACELINK_KAFKA_* settings as the
shipper; a refusal stops it at start-up with the setting to fix, exit 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import tracelink_executable
from tests.support.tls import TlsKafka

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACELINK_KAFKA")}
    env.pop("TRACELINK_ES_URL", None)
    return {**env, "NO_COLOR": "1", **extra}


def _dev(tmp_path: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tracelink_executable(), "dev", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dev_with_a_wrong_ca_exits_2_naming_the_ca(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    env = _env(**tls_kafka.env(TRACELINK_KAFKA_CA_CERTS=str(tls_kafka.certificates.wrong_ca)))
    result = _dev(tmp_path, env, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tracelink dev: configuration error: TRACELINK_KAFKA_CA_CERTS: ")


def test_dev_refuses_tls_settings_for_the_plaintext_stand_in(tmp_path: Path) -> None:
    env = _env(TRACELINK_KAFKA_SECURITY_PROTOCOL="SSL")
    result = _dev(tmp_path, env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "TRACELINK_KAFKA_SECURITY_PROTOCOL" in result.stderr.strip().splitlines()[-1]


def test_dev_runs_its_shipper_over_mutual_tls(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [tracelink_executable(), "dev", "--data-dir", str(tmp_path)],
        env=_env(**tls_kafka.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Ctrl-C stops everything" in line:
                break
        out = "".join(seen)
        assert "Ctrl-C stops everything" in out, out
        assert f"Kafka at {tls_kafka.bootstrap}: SSL" in out
        assert "external" in out
        shipper_log = (tmp_path / "logs" / "shipper.log").read_text()
        assert "Kafka SSL" in shipper_log  # its start-up line: connected over TLS
        api_url = re.search(r"correlate API\s+(http://\S+)", out)
        assert api_url, out
        assert httpx.get(f"{api_url.group(1)}/readyz", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_demo_runs_every_kafka_client_over_mutual_tls(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    """The shipper, and in the demo services logging_ext, the order-events producer and the
    notification consumer: all from the same TRACELINK_KAFKA_* variables."""
    result = subprocess.run(
        [tracelink_executable(), "demo", "--once", "--orders", "20", "--data-dir", str(tmp_path)],
        env=_env(**tls_kafka.env()),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "4 of those never saved" in out
    # The lost order's trace has logs from every service: they crossed Kafka over TLS.
    assert "order event received" in out  # the notification consumer read the order event
    assert "could not save order" in out
    notification = (tmp_path / "logs" / "notification.log").read_text()
    assert "refuses" not in notification
    assert "Kafka unreachable" not in notification
