"""Input formats: the ECS path against today's shipper, OTLP/proto against a protobuf baseline.

Everything is measured in one run on one machine, the baselines included:

* ``ecs``: ``tracelink ship`` on ECS records (as ``bench_shipper.py`` makes them) and, in the
  same run, the ``elasticsearch.helpers`` baseline of ``bench_shipper.py`` on the same
  records. The ratio shipper/helpers (per core) is compared with the committed one in
  ``bench/RESULTS.md``: format detection must not slow the ECS path down.
* ``otlp_proto``: ``tracelink ship`` on OTLP ``ExportLogsServiceRequest`` payloads of 100
  records each (written by the OpenTelemetry Python SDK's own encoder, ``encode_logs``);
  the baseline is decoding the same payloads with the ``opentelemetry-proto`` message
  classes alone (``ParseFromString`` and a walk over every record's fields), in-process.

The Elasticsearch side is ``bench/bulk_ack_server.py`` (acknowledges instantly). Rates per
CPU-second of the consuming process are the comparison that holds on a shared machine.

    python bench/bench_formats.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_shipper import (  # noqa: E402
    bench_servers,
    cpu_seconds,
    helpers,
    make_record,
    rate,
    rss_mb,
    ship_env,
)

PARTITIONS = 4
PER_PAYLOAD = 100


def otlp_payloads(records: int) -> list[bytes]:
    """``records`` log records in payloads of 100, as the SDK's OTLP exporter encodes them."""
    from opentelemetry._logs import SeverityNumber

    from tests.support.otlp import LogSpec, sdk_request

    resource = {
        "service.name": "orders",
        "service.version": "1.4.2",
        "deployment.environment.name": "production",
        "host.name": "orders-7d9f8",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
    }
    payloads = []
    now_ns = time.time_ns()
    for start in range(0, records, PER_PAYLOAD):
        specs = []
        for i in range(start, min(start + PER_PAYLOAD, records)):
            ids = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=24).hexdigest()
            specs.append(
                LogSpec(
                    f"order {i} accepted: 3 items, total 42.50 EUR",
                    SeverityNumber.INFO if i % 10 else SeverityNumber.ERROR,
                    "INFO" if i % 10 else "ERROR",
                    # Fresh records, as a Collector forwards them (a time far from the ingest
                    # time is flagged and takes the transform's slower path).
                    timestamp_ns=now_ns + i * 1000,
                    trace_id=ids[:32],
                    span_id=ids[32:],
                    attributes={"order.id": f"ord-{i:08d}", "thread.name": "MainThread"},
                    logger="shop.orders",
                )
            )
        payloads.append(sdk_request([(resource, specs)]).SerializeToString())
    return payloads


async def preload(bootstrap: str, topic: str, values: list[bytes]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value)
        await producer.flush()
    finally:
        await producer.stop()


def protobuf_baseline(payloads: list[bytes], rounds: int = 3) -> float:
    """CPU µs per record of decoding with the ``opentelemetry-proto`` classes alone."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    best = float("inf")
    records = 0
    for _ in range(rounds):
        started = time.process_time()
        records = 0
        for value in payloads:
            request = ExportLogsServiceRequest()
            request.ParseFromString(value)
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        # Touch what a decoder reads, so the walk is not free.
                        _ = (
                            record.time_unix_nano,
                            record.severity_text,
                            record.body.string_value,
                            record.trace_id,
                            record.span_id,
                            len(record.attributes),
                        )
                        records += 1
        best = min(best, (time.process_time() - started) / records * 1e6)
    return best


def ship(bootstrap: str, topic: str, count: int, es_url: str, workdir: Path) -> dict[str, Any]:
    """``tracelink ship`` on ``topic`` until ``count`` more items are acknowledged.

    CPU and time count from the moment the shipper says it is shipping (start-up excluded)
    to the last acknowledgement: a whole fetch of OTLP payloads can be 100,000 records, so
    timing from the first acknowledgement would leave out most of the decoding.
    """
    env = ship_env(bootstrap, es_url, topic, "bench-formats")
    executable = Path(sys.executable).with_name("tracelink")
    log_path = workdir / f"ship-{topic}.log"
    with httpx.Client(base_url=es_url, timeout=5) as http:
        base = http.get("/_stats/acked").json()["acked"]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(executable), "ship"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        samples: list[float] = []
        try:
            deadline = time.monotonic() + 600
            while b"shipping topics" not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"shipper did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.005)
            ready_at, ready_cpu = time.perf_counter(), cpu_seconds(proc.pid)
            acked = 0
            while time.monotonic() < deadline:
                acked = http.get("/_stats/acked").json()["acked"] - base
                samples.append(rss_mb(proc.pid))
                if acked >= count:
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"shipper exited: {log_path.read_text()[-2000:]}")
                time.sleep(0.02)
            elapsed = time.perf_counter() - ready_at
            cpu = cpu_seconds(proc.pid) - ready_cpu
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "records_per_s": round(acked / elapsed),
        "cpu_us_per_record": round(cpu / acked * 1e6, 1),
        "records_per_cpu_s": rate(cpu / acked * 1e6),
        "cpu_share": round(cpu / elapsed, 2),
        "rss_mb_peak": round(max(samples or [0.0]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    count = args.records - args.records % PER_PAYLOAD
    payloads = otlp_payloads(count)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with bench_servers(workdir) as (bootstrap, es_url):
            ecs_topic = f"bench-ecs-{uuid.uuid4().hex[:6]}"
            otlp_topic = f"bench-otlp-{uuid.uuid4().hex[:6]}"
            asyncio.run(preload(bootstrap, ecs_topic, [make_record(i) for i in range(count)]))
            asyncio.run(preload(bootstrap, otlp_topic, payloads))
            ecs = ship(bootstrap, ecs_topic, count, es_url, workdir)
            _helper, helper_cpu = asyncio.run(helpers(bootstrap, ecs_topic, count, es_url))
            otlp = ship(bootstrap, otlp_topic, count, es_url, workdir)
    baseline_us = protobuf_baseline(payloads)
    helper_rate = rate(helper_cpu)
    result = {
        "benchmark": "formats",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": count,
        "otlp_payload_bytes_avg": round(sum(map(len, payloads)) / len(payloads)),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "ecs": {
            "shipper": ecs,
            "helpers_records_per_cpu_s": helper_rate,
            "shipper_vs_helpers_per_core": round(ecs["records_per_cpu_s"] / helper_rate, 2),
        },
        "otlp_proto": {
            "shipper": otlp,
            "protobuf_decode_only_records_per_cpu_s": rate(baseline_us),
            "shipper_vs_decode_only_per_core": round(
                otlp["records_per_cpu_s"] / rate(baseline_us), 3
            ),
            "target_records_per_cpu_s": 50_000,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
