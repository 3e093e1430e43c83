from __future__ import annotations

from devstack.jaeger.exporter import classify_bulk_items
from devstack.jaeger.templates import jaeger_index_templates


def test_bulk_items_are_sorted_by_what_to_do_next() -> None:
    items = [
        {"create": {"status": 201}},
        {"index": {"status": 200}},
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"create": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
        {
            "create": {
                "status": 400,
                "error": {"type": "document_parsing_exception", "reason": "failed to parse"},
            }
        },
        {"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
    ]
    outcome = classify_bulk_items(items)
    assert outcome.ok == [0, 1]
    assert outcome.duplicate == [2]
    assert outcome.retry == [3, 4]
    # A 409 on "index" is not "already there": only create has that meaning.
    assert outcome.failed == [
        (5, "400 document_parsing_exception: failed to parse"),
        (6, "409 version_conflict_engine_exception:"),
    ]


def test_templates_are_named_and_scoped_like_jaegers() -> None:
    templates = jaeger_index_templates("prod")
    assert list(templates) == ["prod-jaeger-span", "prod-jaeger-service"]
    span = templates["prod-jaeger-span"]
    assert span["index_patterns"] == ["prod-jaeger-span-*"]
    props = span["template"]["mappings"]["properties"]
    for keyword in ("traceID", "spanID", "parentSpanID", "operationName"):
        assert props[keyword]["type"] == "keyword"
    assert props["startTimeMillis"] == {"type": "date", "format": "epoch_millis"}
    assert props["tags"]["type"] == "nested"
    assert props["process"]["properties"]["serviceName"]["type"] == "keyword"
    assert list(jaeger_index_templates()) == ["jaeger-span", "jaeger-service"]
