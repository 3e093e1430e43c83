"""GET /correlate/{trace_id} against the Elasticsearch server, spans of every Jaeger era."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.correlate.conftest import MakeStack, Stack
from tests.support.jaeger import SpanSpec, log_document

# Just before midnight: the trace's spans and logs fall into two daily indices.
BASE = datetime(2026, 11, 22, 23, 59, 59, 900_000, tzinfo=UTC)
BASE_US = int(BASE.timestamp()) * 1_000_000 + BASE.microsecond
TRACE = "0000000000000000a1b2c3d4e5f60718"  # 64-bit: Jaeger stored 16 or fewer digits
ROOT, CHARGE, RESERVE, PAY = (
    "1000000000000001",
    "2000000000000002",
    "0000000000000abc",
    "3000000000000003",
)


def at(offset_ms: float) -> str:
    micros = BASE_US + int(offset_ms * 1000)
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros % 1_000_000:06d}Z"


def spans() -> list[SpanSpec]:
    return [
        SpanSpec(TRACE, ROOT, None, "frontend", "GET /checkout", BASE_US, 500_000, era="v1-string",
                 tags={"http.method": "GET", "span.kind": "server"}),
        SpanSpec(TRACE, CHARGE, ROOT, "checkout", "charge", BASE_US + 10_000, 200_000,
                 era="v2.20", tags={"error": True, "otel.status_description": "card declined"}),
        SpanSpec(TRACE, RESERVE, ROOT, "inventory", "reserve", BASE_US + 5_000, 50_000,
                 era="stripped", tags={"items": 3}),
        SpanSpec(TRACE, PAY, CHARGE, "payments", "POST /pay", BASE_US + 150_000, 40_000,
                 era="v1-native", tags_as_fields=True,
                 tags={"http.status_code": 500, "otel.status_code": "ERROR"}),
    ]  # fmt: skip


def logs() -> list[dict[str, Any]]:
    return [
        log_document(trace_id=TRACE, span_id=ROOT, timestamp=at(1), message="received order",
                     event_id="ev-1", service="frontend"),
        log_document(trace_id=TRACE, span_id=CHARGE, timestamp=at(30), message="card declined",
                     event_id="ev-2", service="checkout", level="error",
                     extra={"error.type": "CardDeclined", "labels.order_id": "o-17"}),
        log_document(trace_id=TRACE, span_id=PAY, timestamp=at(160), message="retrying",
                     event_id="ev-3", service="payments", level="warning", dotted=True),
        log_document(trace_id=TRACE, span_id="ffffffffffffffff", timestamp=at(170),
                     message="from a span Jaeger never got", event_id="ev-4", service="payments"),
        log_document(trace_id=TRACE, span_id=None, timestamp=at(2), message="no span here",
                     event_id="ev-5", service="frontend"),
    ]  # fmt: skip


@pytest.fixture
async def seeded(stack: Stack) -> Stack:
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    return stack


async def test_joins_spans_of_every_era_with_their_logs(seeded: Stack) -> None:
    response = await seeded.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace_id"] == TRACE
    order = [(span["span_id"], span["depth"]) for span in body["spans"]]
    assert order == [(ROOT, 0), (RESERVE, 1), (CHARGE, 1), (PAY, 2)]
    by_id = {span["span_id"]: span for span in body["spans"]}
    assert [log["event_id"] for log in by_id[ROOT]["logs"]] == ["ev-1"]
    assert [log["event_id"] for log in by_id[CHARGE]["logs"]] == ["ev-2"]
    assert [log["event_id"] for log in by_id[PAY]["logs"]] == ["ev-3"]
    assert by_id[CHARGE]["logs"][0]["fields"]["labels.order_id"] == "o-17"
    assert by_id[PAY]["tags"]["http.status_code"] == 500
    assert by_id[PAY]["error"]
    assert by_id[CHARGE]["error"]
    assert not by_id[ROOT]["error"]
    assert by_id[RESERVE]["tags"]["items"] == 3  # string era decoded
    assert [log["event_id"] for log in body["orphan_logs"]] == ["ev-5", "ev-4"]
    summary = body["summary"]
    assert summary["services"] == ["checkout", "frontend", "inventory", "payments"]
    assert summary["span_count"] == 4
    assert summary["log_count"] == 5
    assert summary["duration_us"] == 500_000
    assert summary["start"] == at(0)
    assert summary["first_error"]["kind"] == "span"
    assert summary["first_error"]["span_id"] == CHARGE
    assert any("no span ID" in warning for warning in body["warnings"])
    assert any("ffffffffffffffff" in warning for warning in body["warnings"])
    assert body["links"]["jaeger"].endswith(f"/trace/{TRACE}")
    assert f"trace.id:%22{TRACE}%22" in body["links"]["kibana"]


@pytest.mark.parametrize("spelled", [TRACE, TRACE.upper(), TRACE[16:], TRACE.lstrip("0")])
async def test_every_spelling_of_the_id_finds_the_trace(seeded: Stack, spelled: str) -> None:
    response = await seeded.api.get(f"/correlate/{spelled}")
    assert response.status_code == 200
    assert response.json()["trace_id"] == TRACE


async def test_one_round_trip_for_a_normal_trace(seeded: Stack) -> None:
    before = seeded.es_requests()
    assert (await seeded.api.get(f"/correlate/{TRACE}")).status_code == 200
    assert seeded.es_requests() - before == 1


async def test_large_trace_is_paged_with_search_after(make_stack: MakeStack) -> None:
    stack = await make_stack(api_page_size=3)
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    before = stack.es_requests()
    body = (await stack.api.get(f"/correlate/{TRACE}")).json()
    # 4 spans and 5 logs in pages of 3: the first _msearch, then one round for both.
    assert stack.es_requests() - before == 2
    assert body["summary"]["span_count"] == 4
    assert body["summary"]["log_count"] == 5
    assert not any("showing the first" in warning for warning in body["warnings"])


async def test_limit_logs_truncates_and_says_so(seeded: Stack) -> None:
    body = (await seeded.api.get(f"/correlate/{TRACE}", params={"limit_logs": 2})).json()
    assert body["summary"]["log_count"] == 2
    assert body["summary"]["log_total"] == 5
    assert any("showing the first 2 of 5 logs" in warning for warning in body["warnings"])


async def test_window_limits_the_indices_searched(seeded: Stack) -> None:
    inside = await seeded.api.get(
        f"/correlate/{TRACE}", params={"start": at(0), "end": str(BASE_US + 500_000)}
    )
    assert inside.status_code == 200, inside.text
    assert inside.json()["summary"]["span_count"] == 4
    # A window a week later (± the default hour of padding) searches other days only.
    far = await seeded.api.get(
        f"/correlate/{TRACE}",
        params={"start": "2026-11-30T00:00:00Z", "end": "2026-11-30T01:00:00+00:00"},
    )
    assert far.status_code == 404
    assert "time window" in far.json()["detail"]


async def test_window_padding_reaches_the_neighbouring_day(make_stack: MakeStack) -> None:
    stack = await make_stack(api_window_padding=0)
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    # Only the first 50 ms: no padding, so the spans after midnight are not searched.
    body = (
        await stack.api.get(
            f"/correlate/{TRACE}", params={"start": at(0), "end": str(BASE_US + 50_000)}
        )
    ).json()
    assert {span["span_id"] for span in body["spans"]} == {ROOT, CHARGE, RESERVE}


@pytest.mark.parametrize(
    "raw",
    [
        "xyz",
        "0",
        "0" * 32,
        "a" * 33,
        "*",
        "trace.id:*",
        "%2A",
        "abc%20OR%201",
        "caf%C3%A9",
        "%E2%9C%93",
        "a" * 5000,
        "..%2F..%2Fetc",
        "12345678-1234",
        "abc%0A",  # a trailing newline
        "abc%0D%0A",
    ],
)
async def test_bad_trace_ids_are_400_and_never_reach_elasticsearch(stack: Stack, raw: str) -> None:
    before = stack.es_requests()
    response = await stack.api.get(f"/correlate/{raw}")
    assert response.status_code == 400, response.text
    assert "1 to 32 hexadecimal digits" in response.json()["detail"]
    assert stack.es_requests() == before


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"start": "yesterday"}, "start:"),
        ({"end": "2026-11-22T10:00:00"}, "offset"),
        ({"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T09:00:00Z"}, "before start"),
        ({"limit_logs": "-1"}, "limit_logs"),
        ({"limit_logs": "many"}, "limit_logs"),
        ({"limit_logs": "100000000"}, "at most"),
    ],
)
async def test_bad_parameters_are_400_with_a_detail(
    stack: Stack, params: dict[str, str], needle: str
) -> None:
    response = await stack.api.get(f"/correlate/{TRACE}", params=params)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert needle in detail


async def test_unknown_trace_is_404(stack: Stack) -> None:
    response = await stack.api.get("/correlate/00000000000000000000000000000bad")
    assert response.status_code == 404
    assert "no spans and no logs" in response.json()["detail"]


async def test_logs_without_spans_explain_sampling(stack: Stack) -> None:
    trace = "5" * 32
    await stack.write_logs(
        [
            log_document(trace_id=trace, span_id="6" * 16, timestamp=at(i), message=f"m{i}",
                         event_id=f"uns-{i}", sampled=False)
            for i in range(3)
        ]
    )  # fmt: skip
    body = (await stack.api.get(f"/correlate/{trace}")).json()
    assert body["spans"] == []
    assert len(body["orphan_logs"]) == 3
    assert any("not sampled" in warning for warning in body["warnings"])


async def test_spans_without_logs_are_200_with_a_warning(stack: Stack) -> None:
    await stack.write_spans(spans())
    body = (await stack.api.get(f"/correlate/{TRACE}")).json()
    assert body["summary"]["log_count"] == 0
    assert any("no logs found" in warning for warning in body["warnings"])


async def test_missing_indices_are_not_errors(stack: Stack) -> None:
    # Nothing written at all for this prefix: no log index, no span index.
    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 404


async def test_unreadable_span_documents_are_reported_not_fatal(seeded: Stack) -> None:
    index = f"{seeded.settings.jaeger_index_prefix}-jaeger-span-2026-11-22"
    await seeded.write_span_docs(
        [(index, {"traceID": TRACE[16:], "spanID": "not-hex", "startTime": BASE_US})]
    )
    body = (await seeded.api.get(f"/correlate/{TRACE}")).json()
    assert body["summary"]["span_count"] == 4
    assert any("could not be read" in warning for warning in body["warnings"])


async def test_reference_template_and_fixtures(
    make_stack: MakeStack, index_prefix: str, shared_reference: Path
) -> None:
    """Jaeger's own ES 8 span template and its real span documents, as Jaeger stores them."""
    prefix = f"{index_prefix}-ref"
    stack = await make_stack(jaeger_index_prefix=prefix)
    template = json.loads((shared_reference / "jaeger" / "jaeger-span-8.json").read_text())
    template["index_patterns"] = [f"{prefix}-jaeger-span-*"]
    template["template"]["settings"].pop("lifecycle", None)
    template["template"].pop("aliases", None)
    await stack.es.indices.put_index_template(name=f"{prefix}-jaeger-span", **template)
    v2 = json.loads((shared_reference / "jaeger" / "es_01.json").read_text())
    v1 = json.loads((shared_reference / "jaeger" / "v1" / "es_01.json").read_text())
    index = f"{prefix}-jaeger-span-2017-01-26"
    await stack.write_span_docs([(index, v2), (index, v1)])

    # The v1 document's 64-bit trace 0000000000000001, asked for by its shortest spelling.
    body = (await stack.api.get("/correlate/1")).json()
    assert body["trace_id"] == "00000000000000000000000000000001"
    assert [(s["span_id"], s["parent_span_id"]) for s in body["spans"]] == [
        ("0000000000000002", "0000000000000003")
    ]
    assert any("not in the trace" in warning for warning in body["warnings"])
    # The v2 document's 128-bit trace.
    other = (await stack.api.get("/correlate/00000000000000010000000000000000")).json()
    (span,) = other["spans"]
    assert (span["span_id"], span["parent_span_id"]) == ("0000000000000002", "0000000000000003")
    assert span["error"] is True
    assert span["tags"]["peer.ipv4"] == 23456
    assert [link["ref_type"] for link in span["links"]] == ["FOLLOWS_FROM", "CHILD_OF"]


async def test_rollover_alias_and_dotted_daily_indices(stack: Stack) -> None:
    """Rollover mode (read alias over jaeger-span-000001) and v1's '.' date separator."""
    prefix = stack.settings.jaeger_index_prefix
    backing = f"{prefix}-jaeger-span-000001"
    await stack.es.indices.create(index=backing, aliases={f"{prefix}-jaeger-span-read": {}})
    root, child, other = spans()[0], spans()[1], spans()[2]
    await stack.write_spans([root], index=backing)
    await stack.write_spans([child], index=f"{prefix}-jaeger-span-2026.11.22")
    await stack.write_spans([other], index=f"{prefix}-jaeger-span-2026-11-22-23")  # hourly
    for params in ({}, {"start": at(0), "end": at(500)}):
        body = (await stack.api.get(f"/correlate/{TRACE}", params=params)).json()
        assert {span["span_id"] for span in body["spans"]} == {ROOT, CHARGE, RESERVE}, params


async def test_worker_processes_build_the_same_answers(make_stack: MakeStack) -> None:
    # The default: pages decoded, joined and rendered by worker processes (bytes in and out),
    # here over several search_after rounds.
    threaded = await make_stack(api_page_size=2)
    await threaded.write_spans(spans())
    await threaded.write_logs(logs())
    pooled = await make_stack(api_cpu_workers=1, api_page_size=2)
    for path in (f"/correlate/{TRACE}", f"/correlate/{TRACE}/view"):
        in_thread = await threaded.api.get(path)
        in_process = await pooled.api.get(path)
        assert in_process.status_code == in_thread.status_code == 200
        assert in_process.content == in_thread.content
    missing = await pooled.api.get(f"/correlate/{'e' * 32}")
    assert missing.status_code == 404
