"""Raw _msearch pages → paging summaries and the finished answer (correlate.assemble)."""

from __future__ import annotations

from typing import Any

import orjson

from correlate.assemble import Presentation, Search, TraceJob, page_step, summarise_msearch
from tests.support.jaeger import SpanSpec, log_document

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _page(*responses: dict[str, Any]) -> bytes:
    return orjson.dumps({"responses": list(responses)})


def _hits(sources: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {
        "hits": {
            "total": {"value": total},
            "hits": [{"_source": s, "_id": str(n), "sort": [n]} for n, s in enumerate(sources)],
        },
        "_shards": {"total": 1, "failed": 0},
    }


def _job(**fields: Any) -> TraceJob:
    values: dict[str, Any] = {
        "trace_id": TRACE,
        "pages": [],
        "layout": [],
        "kinds": ["spans", "logs"],
        "notes": [],
        "span_total": 0,
        "log_total": 0,
        "max_spans": 100,
        "limit_logs": 100,
        "skew_tolerance_us": 1_000_000,
        "presentation": Presentation(links={"view": "v"}, kibana_url="http://k"),
    }
    values.update(fields)
    return TraceJob(**values)


SPAN = SpanSpec(TRACE, "1" * 16, None, "svc", "op", 1_795_341_600_000_000, 1_000).document()
LOG = log_document(
    trace_id=TRACE, span_id="1" * 16, timestamp="2026-11-22T10:00:00.000500Z", message="hi",
    event_id="e-1",
)  # fmt: skip


def test_a_full_page_asks_for_more_and_limits_cut_what_is_kept() -> None:
    raw = _page(_hits([SPAN, SPAN], total=5), _hits([LOG], total=1), {"error": {}, "status": 400})
    spans, logs, failed = summarise_msearch(
        raw, [Search(0, 2, 0, 100), Search(1, 2, 0, 100), Search(1, 2, 0, 100)]
    )
    assert (spans.take, spans.more, spans.total, spans.last_sort) == (2, True, 5, [1])
    assert (logs.take, logs.more) == (1, False)
    assert failed.status == 400
    limited = summarise_msearch(_page(_hits([SPAN, SPAN], total=5)), [Search(0, 2, 0, 1)])[0]
    assert (limited.take, limited.more) == (1, False)


def test_the_last_page_finishes_the_answer_in_the_same_call() -> None:
    raw = _page(_hits([SPAN], total=1), _hits([LOG], total=1))
    step = page_step(_job(), raw, [Search(0, 10, 0, 100), Search(1, 10, 0, 100)], [0, 0])
    assert step.done
    assert step.body is not None
    body = orjson.loads(step.body)
    assert [span["span_id"] for span in body["spans"]] == ["1" * 16]
    assert [log["event_id"] for log in body["spans"][0]["logs"]] == ["e-1"]
    assert body["links"]["view"] == "v"
    assert body["links"]["kibana"].startswith("http://k")


def test_an_empty_trace_is_done_without_a_body_and_a_full_page_is_not_done() -> None:
    empty = page_step(
        _job(), _page(_hits([], 0), _hits([], 0)), [Search(0, 10, 0, 100), Search(1, 10, 0, 100)],
        [0, 0],
    )  # fmt: skip
    assert empty.done
    assert empty.body is None
    more = page_step(_job(), _page(_hits([SPAN], 3)), [Search(0, 1, 0, 100)], [0, 0])
    assert not more.done
    assert more.body is None
