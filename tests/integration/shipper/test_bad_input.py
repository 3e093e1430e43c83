"""Bad input among good: every valid record indexed, every bad one dead-lettered with a reason.

Also the happy path's side effects: templates installed, metrics and health endpoints, a
graceful stop that commits (a second shipper in the group finds nothing left to do).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from devstack.standins import free_port
from shipper.app import Shipper
from tests.support.shipping import (
    Elasticsearch,
    committed_offsets,
    encode,
    ends_from_origins,
    headers_of,
    log_record,
    produce,
    read_topic,
    shipper_settings,
    wait_until_async,
)

GOOD = 300


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": True}
    for _ in range(levels):
        node = {"nested": node}
    return node


def bad_inputs(run: str) -> dict[str, Any]:
    """Messages that cannot be indexed, by the dead-letter kind they must get."""
    return {
        "not_json": b"GET /index.html HTTP/1.1",
        "not_utf8": b'{"message": "caf\xe9", "event.id": "x"}',
        "not_object/array": b'[{"message": "a"}, {"message": "b"}]',
        "not_object/number": b"42",
        "not_object/string": b'"just a string"',
        "empty": b"",
        "empty/null": (None, [], b"tombstone-key"),
        "too_large": encode(log_record(10_001, run, message="x" * (2 * 1024 * 1024))),
        "too_deep": encode(log_record(10_002, run, labels=_deep(40))),
        "too_many_fields": encode(
            log_record(10_003, run, **{f"labels.key_{i}": i for i in range(3000)})
        ),
        "conflicting_keys": encode(log_record(10_004, run, service="orders", **{"service.x": 1})),
        # Mapping conflicts, refused by Elasticsearch itself:
        "document_parsing_exception/trace.id": encode(
            log_record(10_005, run, **{"trace.id": {"not": "a string"}})
        ),
        "document_parsing_exception/pid": encode(
            log_record(10_006, run, **{"process.pid": "not-a-number"})
        ),
    }


def repairable_inputs(run: str) -> dict[str, bytes | tuple[bytes, list[tuple[str, bytes]]]]:
    """Messages that are indexed after repair, by their event.id."""
    fixes: dict[str, dict[str, Any]] = {
        "r1": {"@timestamp": None},
        "r2": {"@timestamp": "last tuesday"},
        "r3": {"trace.id": "not-hex-at-all"},
        "r4": {"trace.id": "ab" * 20},
        "r5": {"trace.id": "4BF92F3577B34DA6A3CE929D0E0E4736"},
        "r6": {"trace.id": "a3ce929d0e0e4736"},
    }
    messages: dict[str, Any] = {
        f"{run}-{name}": encode(log_record(20_000 + n, run, **fix, **{"event.id": f"{run}-{name}"}))
        for n, (name, fix) in enumerate(fixes.items())
    }
    no_ids = {"@timestamp": "2026-11-22T10:00:00Z", "message": "no ids", "event.id": f"{run}-r7"}
    traceparent = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    messages[f"{run}-r7"] = (encode(no_ids), traceparent)
    return messages


async def test_bad_input_is_dead_lettered_and_everything_else_indexed(
    kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> None:
    run = uuid.uuid4().hex[:8]
    bad = bad_inputs(run)
    repairable = repairable_inputs(run)
    # Interleave: a bad or repairable message after every ~15 good ones.
    specials: list[Any] = [*bad.values(), *repairable.values()]
    messages: list[Any] = []
    for i in range(GOOD):
        messages.append(encode(log_record(i, run)))
        if i % 15 == 7 and specials:
            messages.append(specials.pop())
    messages.extend(specials)
    messages.append(encode(log_record(10_099, run, **{"event.id": None})))  # fallback _id
    await produce(kafka_bootstrap, topic, messages)

    port = free_port()
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        index_prefix=index_prefix,
        metrics_port=port,
        metrics_host="127.0.0.1",
    )
    es = Elasticsearch(es_url)
    logs, dlq = f"{index_prefix}-logs-*", f"{index_prefix}-dlq-*"
    expected_logs = GOOD + len(repairable) + 1
    try:
        async with Shipper(settings) as shipper:
            await wait_until_async(
                lambda: es.count(logs) >= expected_logs and es.count(dlq) >= len(bad),
                timeout=120,
                what="every record indexed or dead-lettered",
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/healthz")).status_code == 200
                ready = await http.get("/readyz")
                assert ready.status_code == 200, ready.text
                metrics = (await http.get("/metrics")).text
            assert shipper.failure is None
        await asyncio.sleep(0)

        # --- exact counts --------------------------------------------------------------
        assert es.count(logs, refresh=True) == expected_logs
        assert es.count(dlq, refresh=True) == len(bad)
        documents = {hit["_id"]: hit["_source"] for hit in es.documents(logs)}
        assert {f"{run}-{i}" for i in range(GOOD)} | set(repairable) <= set(documents)
        [fallback] = [doc_id for doc_id in documents if doc_id.startswith(f"{topic}-")]
        assert documents[fallback]["message"] == "order 10099 accepted"

        # --- repairs are visible -------------------------------------------------------
        meta = {doc_id: documents[doc_id]["tracelink"] for doc_id in repairable}
        assert meta[f"{run}-r1"]["timestamp_source"] == "kafka"
        assert meta[f"{run}-r2"]["timestamp_original"] == "last tuesday"
        assert meta[f"{run}-r3"]["invalid"] == {"trace_id": "not-hex-at-all"}
        assert meta[f"{run}-r4"]["flags"] == ["invalid_trace_id"]
        assert documents[f"{run}-r5"]["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert documents[f"{run}-r6"]["trace"]["id"] == "0000000000000000a3ce929d0e0e4736"
        assert documents[f"{run}-r7"]["trace"]["id"] == "0af7651916cd43dd8448eb211c80319c"
        assert documents[f"{run}-r7"]["span"]["id"] == "b7ad6b7169203331"
        sample = documents[f"{run}-5"]
        assert sample["log"]["level"] == "info"
        assert sample["event"]["ingested"].endswith("Z")
        assert sample["tracelink"]["origin"].startswith(f"{topic}/")

        # --- the dead-letter index: reason, origin, payload ----------------------------
        letters = [hit["_source"] for hit in es.documents(dlq)]
        kinds = sorted(letter["error"]["type"] for letter in letters)
        assert kinds == sorted(name.split("/")[0] for name in bad)
        for letter in letters:
            assert letter["error"]["message"]
            assert letter["tracelink"]["origin"].startswith(f"{topic}/")
        too_large = next(x for x in letters if x["error"]["type"] == "too_large")
        assert too_large["tracelink"]["payload_truncated"] is True
        assert too_large["tracelink"]["payload_bytes"] > 2 * 1024 * 1024

        # --- the dead-letter topic: original bytes and reason headers ------------------
        records = await read_topic(kafka_bootstrap, settings.dlq_topic)
        assert len(records) == len(bad)
        originals = [v[0] if isinstance(v, tuple) else v for v in bad.values()]
        assert sorted(r.value or b"" for r in records) == sorted(v or b"" for v in originals)
        for record in records:
            headers = headers_of(record)
            assert headers["tracelink-error"]
            assert headers["tracelink-origin"].decode().startswith(f"{topic}/")
            assert headers["tracelink-error-type"].decode() in {n.split("/")[0] for n in bad}

        # --- metrics counted what happened ---------------------------------------------
        total = GOOD + len(repairable) + len(bad) + 1
        assert f'tracelink_shipper_records_consumed_total{{format="ecs"}} {float(total)}' in metrics
        assert f"tracelink_shipper_records_indexed_total {float(expected_logs)}" in metrics
        assert 'tracelink_shipper_records_dead_lettered_total{reason="too_large"} 1.0' in metrics
        assert 'tracelink_shipper_records_flagged_total{flag="invalid_trace_id"} 2.0' in metrics
        assert "tracelink_shipper_bulk_request_seconds_bucket" in metrics
        assert "tracelink_shipper_partition_lag{" in metrics

        # --- the stop committed everything: a new member of the group has nothing to do --
        # (Checked on the committed offsets themselves, not by watching a second replica
        # idle for a while: the end of each partition is the last record indexed or
        # dead-lettered there.)
        committed = await committed_offsets(kafka_bootstrap, settings.consumer_group, topic)
        shipped = [*es.documents(logs), *es.documents(dlq)]
        assert committed == ends_from_origins(shipped)
        assert sum(offset or 0 for offset in committed.values()) == total
    finally:
        es.close()
