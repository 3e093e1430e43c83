"""The bulk writer against a real server: created, duplicates, refusals, request splitting."""

from __future__ import annotations

from shipper.bulk import create_item
from shipper.conflicts import candidates, fetch_digests, reused_ids
from shipper.metrics import ShipperMetrics
from shipper.retry import Backoff
from shipper.sink import BulkSink
from shipper.transform import IndexAction, Transformer, content_digest
from tests.support.shipping import Elasticsearch, KafkaMessage
from tracelink.elasticsearch import install_templates, make_client
from tracelink.settings import ElasticsearchSettings, load_settings


async def test_replays_are_duplicates_and_bad_documents_are_refused(
    es_url: str, index_prefix: str
) -> None:
    settings = load_settings(
        ElasticsearchSettings,
        es_url=es_url,
        log_index_prefix=f"{index_prefix}-logs",
        dlq_index_prefix=f"{index_prefix}-dlq",
    )
    client = make_client(settings)
    metrics = ShipperMetrics()
    # A tiny request limit: 40 items go out in several requests.
    sink = BulkSink(
        client, max_request_bytes=2048, backoff=lambda: Backoff(0.05, 0.2), metrics=metrics
    )
    index = f"{index_prefix}-logs-2026-11-22"
    items = [
        create_item(index, f"doc-{i}", {"@timestamp": "2026-11-22T10:00:00Z", "message": f"m{i}"})
        for i in range(40)
    ]
    bad = create_item(index, "doc-bad", {"process": {"pid": "not-a-number"}})
    es = Elasticsearch(es_url)
    try:
        await install_templates(client, settings, retention_days=None)
        first = await sink.write([*items[:20], bad, *items[20:]])
        assert (first.created, first.duplicates) == (40, 0)
        [rejection] = first.rejected
        assert rejection.position == 20
        assert rejection.status == 400
        assert rejection.error_type == "document_parsing_exception"
        assert "process.pid" in rejection.reason

        replay = await sink.write(items)
        assert (replay.created, replay.duplicates, replay.rejected) == (0, 40, [])
        assert es.count(f"{index_prefix}-logs-*", refresh=True) == 40
        assert metrics.registry.get_sample_value("tracelink_shipper_records_indexed_total") == 40
        assert replay.duplicate_positions == list(range(40))
        # The pipeline counts duplicates once it knows a 409 is a replay (shipper.conflicts).
        assert metrics.registry.get_sample_value("tracelink_shipper_records_duplicate_total") == 0
        requests = metrics.registry.get_sample_value("tracelink_shipper_bulk_request_seconds_count")
        assert requests is not None
        assert requests > 2
        assert sink.healthy
    finally:
        es.close()
        await client.close()


async def test_stored_digests_tell_a_replay_from_a_reused_event_id(
    es_url: str, index_prefix: str
) -> None:
    settings = load_settings(
        ElasticsearchSettings,
        es_url=es_url,
        log_index_prefix=f"{index_prefix}-logs",
        dlq_index_prefix=f"{index_prefix}-dlq",
    )
    client = make_client(settings)
    sink = BulkSink(
        client,
        max_request_bytes=1 << 20,
        backoff=lambda: Backoff(0.05, 0.2),
        metrics=ShipperMetrics(),
    )
    transformer = Transformer(f"{index_prefix}-logs")
    ingested = "2026-11-22T10:30:00.000000Z"

    def action(value: bytes, offset: int) -> IndexAction:
        result = transformer.transform(KafkaMessage(value, offset=offset), ingested)
        assert isinstance(result, IndexAction)
        return result

    first = action(b'{"event.id": "1", "message": "a", "@timestamp": "2026-11-22T10:00:00Z"}', 1)
    replay = action(b'{"event.id": "1", "message": "a", "@timestamp": "2026-11-22T10:00:00Z"}', 9)
    reuse = action(b'{"event.id": "1", "message": "b", "@timestamp": "2026-11-22T10:00:00Z"}', 10)
    try:
        await install_templates(client, settings, retention_days=None)
        created = await sink.write([create_item(first.index, first.doc_id, first.source)])
        assert created.created == 1
        again = await sink.write(
            [create_item(a.index, a.doc_id, a.source) for a in (replay, reuse)]
        )
        assert again.duplicate_positions == [0, 1]
        checked = candidates([replay, reuse])
        stored = await fetch_digests(client, checked)
        assert stored[(first.index, "1")] == content_digest(first.message)
        assert reused_ids(checked, stored) == [False, True]
    finally:
        await client.close()
