"""The Elasticsearch request bodies and index selection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from correlate.query import (
    LOG_SORT,
    SPAN_SORT,
    Window,
    log_indices,
    recent_traces_search,
    span_indices,
    trace_msearch,
)
from correlate.settings import ApiSettings
from devstack.jaeger.templates import jaeger_index_templates
from tracelink.layout import (
    jaeger_index_name,
    jaeger_service_daily_index,
    jaeger_span_daily_index,
)


def us(year: int, month: int, day: int, hour: int = 0) -> int:
    moment = datetime(year, month, day, hour, tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


def test_open_window_searches_the_patterns() -> None:
    assert span_indices("", Window(), max_days=31) == ["jaeger-span-*"]
    assert span_indices("prod", Window(us(2026, 11, 22), None), max_days=31) == [
        "prod-jaeger-span-*"
    ]
    assert log_indices("tracelink-logs", Window(None, us(2026, 11, 22)), max_days=31) == [
        "tracelink-logs-*"
    ]


def test_closed_window_lists_its_days_in_every_naming() -> None:
    window = Window(us(2026, 11, 22, 23), us(2026, 11, 23, 1))
    assert span_indices("prod", window, max_days=31) == [
        "prod-jaeger-span-2026-11-22*",
        "prod-jaeger-span-2026.11.22*",
        "prod-jaeger-span-2026-11-23*",
        "prod-jaeger-span-2026.11.23*",
        "prod-jaeger-span-read",
    ]
    assert log_indices("tl", window, max_days=31) == ["tl-2026-11-22", "tl-2026-11-23"]


def test_long_window_falls_back_to_the_pattern() -> None:
    window = Window(us(2026, 1, 1), us(2026, 3, 1))
    assert log_indices("tl", window, max_days=31) == ["tl-*"]
    assert log_indices("tl", window, max_days=60) == [
        f"tl-2026-{month:02d}-{day:02d}"
        for month, days in ((1, 31), (2, 28))
        for day in range(1, days + 1)
    ] + ["tl-2026-03-01"]


def test_padding() -> None:
    window = Window(us(2026, 11, 22), us(2026, 11, 22, 1)).padded(3_600_000_000)
    assert window == Window(us(2026, 11, 21, 23), us(2026, 11, 22, 2))
    assert Window(10, None).padded(100) == Window(0, None)


def test_trace_msearch_matches_every_id_variant_and_sorts_stably() -> None:
    trace = "0000000000000000" + "00f067aa0ba902b7"
    window = Window(us(2026, 11, 22) + 1500, us(2026, 11, 22, 1) + 1500)
    header_s, spans, header_l, logs = trace_msearch(
        trace, span_index=["a", "b"], log_index=["c"], window=window, span_size=7, log_size=9
    )
    assert header_s == {
        "index": "a,b",
        "ignore_unavailable": True,
        "allow_no_indices": True,
        "expand_wildcards": "open",
    }
    assert header_l["index"] == "c"
    span_filters = spans["query"]["bool"]["filter"]
    assert span_filters[0] == {"terms": {"traceID": [trace, "00f067aa0ba902b7", "f067aa0ba902b7"]}}
    # startTimeMillis bounds round outwards so that no span at the edges is lost.
    assert span_filters[1]["range"]["startTimeMillis"] == {
        "gte": us(2026, 11, 22) // 1000 + 1,
        "lte": us(2026, 11, 22, 1) // 1000 + 2,
        "format": "epoch_millis",
    }
    assert spans["sort"] == SPAN_SORT
    assert spans["size"] == 7
    assert spans["track_total_hits"] is True
    assert logs["query"]["bool"]["filter"][0] == {"term": {"trace.id": trace}}
    assert logs["query"]["bool"]["filter"][1]["range"]["@timestamp"] == {
        "gte": "2026-11-22T00:00:00.001500Z",
        "lte": "2026-11-22T01:00:00.001500Z",
    }
    assert logs["sort"] == LOG_SORT
    assert logs["size"] == 9


def test_values_from_the_request_are_only_term_values() -> None:
    body = recent_traces_search(
        Window(us(2026, 11, 22), None), service='x" OR *:*', level="error", size=5
    )
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"service.name": 'x" OR *:*'}} in filters
    assert "query_string" not in str(body)
    assert body["collapse"] == {"field": "trace.id"}
    levels = next(f for f in filters if "terms" in f)["terms"]["log.level"]
    assert "critical" in levels
    assert "info" not in levels


@pytest.mark.parametrize("prefix", ["prod", "prod-"])
def test_a_prefix_ending_in_a_dash_is_joined_as_jaeger_joins_it(prefix: str) -> None:
    # Jaeger v2.20.0, internal/storage/elasticsearch/config/config.go, joinPrefix: no
    # second "-" when the prefix already ends with one.
    assert jaeger_index_name(prefix, "jaeger-span") == "prod-jaeger-span"
    assert span_indices(prefix, Window(), max_days=31) == ["prod-jaeger-span-*"]
    window = Window(us(2026, 11, 22, 1), us(2026, 11, 22, 2))
    assert span_indices(prefix, window, max_days=31)[-1] == "prod-jaeger-span-read"
    assert jaeger_span_daily_index(prefix, datetime(2026, 11, 22, tzinfo=UTC)) == (
        "prod-jaeger-span-2026-11-22"
    )
    assert jaeger_service_daily_index(prefix, datetime(2026, 11, 22, tzinfo=UTC)) == (
        "prod-jaeger-service-2026-11-22"
    )
    templates = jaeger_index_templates(prefix)
    assert list(templates) == ["prod-jaeger-span", "prod-jaeger-service"]
    assert templates["prod-jaeger-span"]["index_patterns"] == ["prod-jaeger-span-*"]
    assert ApiSettings(jaeger_index_prefix=prefix).jaeger_index_prefix == prefix
    assert jaeger_index_name("", "jaeger-span") == "jaeger-span"
