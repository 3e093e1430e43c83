"""Links (rison for Kibana Discover), the HTML view, and the API settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import rison

from correlate.join import join_trace
from correlate.links import correlate_url, kibana_discover_url, trace_links
from correlate.logs import LogRecord
from correlate.render import format_duration, render_error, render_trace, waterfall
from correlate.settings import ApiSettings
from correlate.spans import Span
from kibana.links import rison_component
from tracelink.settings import ConfigError, load_settings

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_795_341_600_000_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": "x"}, "(a:x,b:1)"),  # keys sorted
        ("abc", "abc"),
        ("trace.id", "trace.id"),
        ("", "''"),
        ("-x", "'-x'"),  # may not start with - or a digit
        ("1abc", "'1abc'"),
        ("@timestamp", "'@timestamp'"),
        ("a b", "'a%20b'"),
        ("it's!", "'it!'s!!'"),
        (True, "!t"),
        (False, "!f"),
        (None, "!n"),
        ([["@timestamp", "asc"]], "!(!('@timestamp',asc))"),
        ('trace.id:"ab"', "'trace.id:%22ab%22'"),
        ("2026-11-22T10:00:00.000Z", "'2026-11-22T10:00:00.000Z'"),
        ("café", "caf%C3%A9"),
    ],
)
def test_rison(value: Any, expected: str) -> None:
    assert rison_component(value) == expected


def test_kibana_discover_url_round_trips() -> None:
    url = kibana_discover_url(
        "http://kibana:5601", "tracelink-logs", TRACE, start_us=T0, end_us=T0 + 500_000
    )
    assert url.startswith("http://kibana:5601/app/discover#/?_g=(")
    fragment = url.split("#/?", 1)[1]
    parts = dict(part.split("=", 1) for part in fragment.split("&"))
    global_state = rison.loads(unquote(parts["_g"]))
    app_state = rison.loads(unquote(parts["_a"]))
    assert global_state["time"] == {
        "from": "2026-11-22T09:45:00.000Z",
        "to": "2026-11-22T10:15:00.500Z",
    }
    assert app_state["index"] == "tracelink-logs"
    assert app_state["query"] == {"language": "kuery", "query": f'trace.id:"{TRACE}"'}
    assert app_state["sort"] == [["@timestamp", "asc"]]
    assert "message" in app_state["columns"]
    # Nothing a browser would mangle: no spaces, quotes or braces left unencoded.
    assert not set(fragment) & set(' "{}<>')


def test_kibana_url_without_times() -> None:
    url = kibana_discover_url("http://k", "dv", TRACE, start_us=None, end_us=None)
    assert "time:(from:now-7d,to:now)" in url


def test_other_links() -> None:
    assert correlate_url("http://api/", TRACE) == f"http://api/correlate/{TRACE}"
    links = load_settings(ApiSettings, jaeger_ui_url="http://j:16686", api_public_url="http://api")
    assert trace_links(links, TRACE) == {
        "correlate": f"http://api/correlate/{TRACE}",
        "view": f"http://api/correlate/{TRACE}/view",
        "jaeger": f"http://j:16686/trace/{TRACE}",
    }


def _trace(message: str = "hello") -> Any:
    spans = [
        Span(TRACE, "1" * 16, None, "front", "GET /", T0, 100_000, False),
        Span(TRACE, "2" * 16, "1" * 16, "pay", "charge", T0 + 50_000, 50_000, True, {"k": "v"}),
    ]
    logs = [
        LogRecord(None, T0 + 60_000, "error", message, "pay", "l", "2" * 16, "e1"),
        LogRecord(None, T0 + 200_000, "debug", "after", "front", "l", None, "e2"),
    ]
    trace = join_trace(TRACE, spans, logs)
    trace.links = {"jaeger": "http://j/trace/x", "kibana": "http://k/app/discover#/?_g=(a:'b')"}
    return trace


def test_waterfall_positions_cover_spans_and_logs() -> None:
    view = waterfall(_trace())
    assert view.origin_us == T0
    assert view.span_us == 200_000  # the last log is later than every span
    front, pay = view.spans
    assert (front.left, front.width) == (0.0, 50.0)
    assert (pay.left, pay.width, pay.depth) == (25.0, 25.0, 1)
    assert pay.logs[0].offset == "+60.00 ms"
    assert pay.logs[0].level_class == "error"
    assert view.orphan_logs[0].level_class == "debug"
    assert [label for _, label in view.ticks] == [
        "0 µs",
        "50.00 ms",
        "100.00 ms",
        "150.00 ms",
        "200.00 ms",
    ]
    assert front.color != pay.color


def test_page_escapes_attacker_text() -> None:
    evil = '<script>alert(1)</script>" onmouseover="x'
    page = render_trace(_trace(evil))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;x" in page
    assert 'href="http://k/app/discover#/?_g=(a:&#39;b&#39;)"' in page
    assert page.count('class="span-block"') == 2
    assert 'id="orphan-logs"' in page
    assert "ERROR" in page


def test_error_page() -> None:
    page = render_error(404, "Not Found", "no <b>trace</b>")
    assert "no &lt;b&gt;trace&lt;/b&gt;" in page


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0 µs"),
        (999, "999 µs"),
        (1_500, "1.50 ms"),
        (2_345_678, "2.346 s"),
        (-1_500, "-1.50 ms"),
    ],
)
def test_format_duration(micros: int, text: str) -> None:
    assert format_duration(micros) == text


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACELINK_API_PORT", "9999")
    monkeypatch.setenv("TRACELINK_API_TOKEN", "  ")
    settings = load_settings(ApiSettings)
    assert settings.api_port == 9999
    assert settings.api_token is None  # blank means unset
    monkeypatch.setenv("TRACELINK_API_TOKEN", "t0k")
    settings = load_settings(ApiSettings, api_host="0.0.0.0")
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "t0k"
    assert "t0k" not in repr(settings)
    assert settings.api_host == "0.0.0.0"


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("api_port", "0", "TRACELINK_API_PORT"),
        ("api_port", "http", "TRACELINK_API_PORT"),
        ("api_es_timeout", "0", "TRACELINK_API_ES_TIMEOUT"),
        ("api_page_size", "20000", "TRACELINK_API_PAGE_SIZE"),
        ("kibana_url", "kibana", "TRACELINK_KIBANA_URL"),
    ],
)
def test_bad_settings_name_the_variable(field: str, value: str, variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(ApiSettings, **{field: value})
    assert caught.value.variable == variable
