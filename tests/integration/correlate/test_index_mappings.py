"""Indices created without the index templates, a span read alias of the user's choosing,
and Elasticsearch refusing a query: read right where possible, else a 502 that says why.

Jaeger with ``create_mappings: false`` and logs indexed by another tool leave Elasticsearch
to map strings dynamically: Elasticsearch 8 maps them as ``text`` with a ``keyword``
sub-field (``traceID.keyword``), and so does the stand-in (asserted below).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devstack.jaeger.templates import jaeger_span_template
from tests.integration.correlate.conftest import MakeStack, Stack
from tests.integration.correlate.test_correlate_api import (
    CHARGE,
    PAY,
    RESERVE,
    ROOT,
    TRACE,
    logs,
    spans,
)


async def _untemplated(make_stack: MakeStack, index_prefix: str, **overrides: Any) -> Stack:
    """A stack whose span and log indices match no index template (dynamic mappings)."""
    await make_stack()  # the fixture installs the templates for the first stack's prefixes
    return await make_stack(
        jaeger_index_prefix=f"{index_prefix}-raw",
        log_index_prefix=f"{index_prefix}-rawlogs",
        dlq_index_prefix=f"{index_prefix}-rawdlq",
        **overrides,
    )


async def _mapping_type(stack: Stack, index: str, path: list[str]) -> dict[str, Any]:
    mappings = (await stack.es.indices.get_mapping(index=index)).body
    node: dict[str, Any] = next(iter(mappings.values()))["mappings"]
    for part in path:
        node = node["properties"][part]
    return node


async def test_indices_without_templates_are_read_through_their_keyword_subfields(
    make_stack: MakeStack, index_prefix: str
) -> None:
    stack = await _untemplated(make_stack, index_prefix)
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    span_index = f"{index_prefix}-raw-jaeger-span-2026-11-22"
    log_index = f"{index_prefix}-rawlogs-2026-11-22"
    # What dynamic mapping made of the IDs: text with a keyword sub-field, as in ES 8.
    trace_field = await _mapping_type(stack, span_index, ["traceID"])
    assert trace_field["type"] == "text"
    assert trace_field["fields"]["keyword"]["type"] == "keyword"
    log_trace = await _mapping_type(stack, log_index, ["trace", "id"])
    assert log_trace["type"] == "text"

    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    body = response.json()
    order = [(span["span_id"], span["depth"]) for span in body["spans"]]
    assert order == [(ROOT, 0), (RESERVE, 1), (CHARGE, 1), (PAY, 2)]
    by_id = {span["span_id"]: span for span in body["spans"]}
    assert [log["event_id"] for log in by_id[CHARGE]["logs"]] == ["ev-2"]
    assert {log["event_id"] for log in body["orphan_logs"]} == {"ev-4", "ev-5"}
    # A second request goes straight to the right fields (the expression is remembered).
    again = await stack.api.get(f"/correlate/{TRACE}", params={"limit_logs": "2"})
    assert again.status_code == 200
    assert again.json()["summary"]["log_total"] == 5
    record = await stack.api.get("/logs/ev-2")
    assert record.status_code == 200, record.text
    assert record.json()["log"]["span_id"] == CHARGE


async def test_recent_traces_and_log_lookup_on_indices_without_templates(
    make_stack: MakeStack, index_prefix: str
) -> None:
    stack = await _untemplated(make_stack, index_prefix)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    docs = [dict(doc, **{"@timestamp": now}) for doc in logs()]
    await stack.write_logs(docs)
    found = await stack.api.get("/traces", params={"service": "checkout", "level": "error"})
    assert found.status_code == 200, found.text
    assert [row["trace_id"] for row in found.json()["traces"]] == [TRACE]
    record = await stack.api.get("/logs/ev-2")
    assert record.status_code == 200, record.text
    assert record.json()["trace_id"] == TRACE


async def test_spans_behind_a_read_alias_of_the_users_choosing(
    make_stack: MakeStack, index_prefix: str
) -> None:
    alias = f"{index_prefix}-spans-read"
    stack = await make_stack(jaeger_span_read_alias=alias)
    backing = f"{index_prefix}-spans-000001"
    template = jaeger_span_template(stack.settings.jaeger_index_prefix)["template"]
    await stack.es.indices.create(index=backing, mappings=template["mappings"], aliases={alias: {}})
    await stack.write_spans(spans(), index=backing)
    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    assert len(response.json()["spans"]) == 4
    # A bounded window searches the alias too (its backing indices carry no date).
    bounded = await stack.api.get(
        f"/correlate/{TRACE}",
        params={"start": "2026-11-22T23:00:00Z", "end": "2026-11-23T01:00:00Z"},
    )
    assert len(bounded.json()["spans"]) == 4


async def test_alias_over_indices_with_and_without_templates(
    make_stack: MakeStack, index_prefix: str
) -> None:
    # One expression, two mappings: the daily index has the template, the backing index of
    # the alias was created by hand without it.
    alias = f"{index_prefix}-mixed-read"
    stack = await make_stack(jaeger_span_read_alias=alias)
    everything = spans()
    await stack.write_spans(everything[:2])
    backing = f"{index_prefix}-mixed-000001"
    await stack.write_spans(everything[2:], index=backing)
    await stack.es.indices.put_alias(index=backing, name=alias)
    await stack.write_logs(logs())
    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    assert {span["span_id"] for span in response.json()["spans"]} == {ROOT, CHARGE, RESERVE, PAY}


async def test_an_index_that_cannot_be_read_is_named_with_what_to_install(
    make_stack: MakeStack, index_prefix: str
) -> None:
    stack = await make_stack()
    await stack.write_logs(logs())
    broken = f"{index_prefix}-jaeger-span-2026-11-22"
    await stack.es.indices.create(
        index=broken,
        mappings={"properties": {"traceID": {"type": "text"}, "spanID": {"type": "text"}}},
    )
    await stack.write_spans(spans())
    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    warnings = " ".join(response.json()["warnings"])
    assert f"index {broken}: field traceID is mapped as text without a keyword sub-field" in (
        warnings
    )
    assert "create_mappings" in warnings


async def test_a_refused_query_is_502_with_elasticsearchs_reason(
    make_stack: MakeStack, index_prefix: str
) -> None:
    # startTime as text: the IDs are fine, the sort is not; nothing to read around.
    stack = await make_stack()
    broken = f"{index_prefix}-jaeger-span-2026-11-22"
    await stack.es.indices.create(
        index=broken,
        mappings={
            "properties": {
                "traceID": {"type": "keyword"},
                "spanID": {"type": "keyword"},
                "startTime": {"type": "text"},
            }
        },
    )
    await stack.write_spans(spans())
    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "refused" in detail
    assert "HTTP 400" in detail
    assert "Text fields are not optimised" in detail
    view = await stack.api.get(f"/correlate/{TRACE}/view")
    assert view.status_code == 502
    assert view.headers["content-type"].startswith("text/html")
