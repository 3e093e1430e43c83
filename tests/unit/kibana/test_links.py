"""Discover URLs (rison state), Kibana URL formatters and the Jaeger UI link patterns."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import rison

from kibana.jaeger_ui import render_jaeger_ui_config, to_json
from kibana.links import discover_path, discover_url, fill, placeholder, rison_component
from kibana.objects import LOG_DATA_VIEW_ID, SPAN_DATA_VIEW_ID, RenderOptions, render_saved_objects
from tests.support.kibana_fields import mapping_fields
from tracelink.layout import log_index_template

KIBANA_DIR = Path(__file__).resolve().parents[3] / "kibana"
TRACE_16 = "00f067aa0ba902b7"
TRACE_32 = "4bf92f3577b34da6a3ce929d0e0e4736"
LOG_FIELDS_AVAILABLE = mapping_fields(log_index_template("x")["template"]["mappings"]["properties"])


def _discover_state(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode the ``_g`` and ``_a`` rison of a Discover URL (absolute or Kibana-relative)."""
    fragment = urlsplit(url).fragment if "://" in url else url.split("#", 1)[1]
    assert fragment.startswith("/?"), fragment
    # Only '&' and '=' separate parameters: the rison itself is percent-encoded.
    params = dict(part.split("=", 1) for part in fragment[2:].split("&"))
    assert set(params) == {"_g", "_a"}
    # Nothing outside the characters Kibana leaves unencoded (else a browser may mangle it).
    for value in params.values():
        assert re.fullmatch(r"[A-Za-z0-9!'(),:*~\-_.@$/%]*", value), value
    return rison.loads(unquote(params["_g"])), rison.loads(unquote(params["_a"]))


def test_rison_matches_kibanas_own_example() -> None:
    # From Kibana's APM tests (see the Kibana format notes): sorted keys, quoting rules.
    state = {
        "index": "apm_static_index_pattern_id",
        "interval": "auto",
        "query": {
            "language": "kuery",
            "query": 'processor.event:"transaction" AND transaction.id:"123" AND trace.id:"123"',
        },
    }
    assert unquote(rison_component(state)) == (
        "(index:apm_static_index_pattern_id,interval:auto,query:(language:kuery,"
        'query:\'processor.event:"transaction" AND transaction.id:"123" AND trace.id:"123"\'))'
    )
    assert rison_component({"pause": True, "value": 0}) == "(pause:!t,value:0)"
    assert rison_component(["@timestamp", "desc"]) == "!('@timestamp',desc)"
    assert rison_component("it's") == "'it!'s'"


def test_discover_url_round_trips() -> None:
    url = discover_url(
        "https://kibana.example.com/base/",
        data_view_id=LOG_DATA_VIEW_ID,
        query=f'trace.id:"{TRACE_32}"',
        columns=("service.name", "message"),
        sort=(("@timestamp", "asc"),),
        time_from="2026-11-22T10:00:00.000Z",
        time_to="now",
    )
    assert url.startswith("https://kibana.example.com/base/app/discover#/?_g=")
    global_state, app_state = _discover_state(url)
    assert global_state == {"time": {"from": "2026-11-22T10:00:00.000Z", "to": "now"}}
    assert app_state == {
        "columns": ["service.name", "message"],
        "index": LOG_DATA_VIEW_ID,
        "query": {"language": "kuery", "query": f'trace.id:"{TRACE_32}"'},
        "sort": [["@timestamp", "asc"]],
    }


@pytest.mark.parametrize(
    "query", ['it\'s a "quote"', "a!b", "(x) or y:*", "ünïcode ✓", "50% & more = #tag"]
)
def test_discover_state_survives_awkward_queries(query: str) -> None:
    _g, app_state = _discover_state(discover_path(data_view_id="dv", query=query))
    assert app_state["query"]["query"] == query


def test_placeholders_survive_encoding_and_must_be_used() -> None:
    path = discover_path(data_view_id="dv", query=f'trace.id:"{placeholder("t")}"')
    assert placeholder("t") in path
    assert "#{x}" in fill(path, {"t": "#{x}"})
    with pytest.raises(ValueError, match="does not occur"):
        fill(path, {"other": "x"})
    with pytest.raises(ValueError, match="alphanumeric"):
        placeholder("a b")


# -- Jaeger UI ---------------------------------------------------------------------------


def _jaeger_format(value: Any, chain: list[str]) -> Any:
    """The Jaeger UI's link formatters (jaeger-ui model/link-formatting)."""
    for step in chain:
        name, *args = step.split()
        if name == "pad_start":
            value = str(value).rjust(int(args[0]), args[1])
        elif name == "add":
            value = int(value) + int(args[0])
        elif name == "epoch_micros_to_date_iso":
            when = datetime.fromtimestamp(int(value) / 1_000_000, tz=UTC)
            value = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        else:
            raise AssertionError(f"the Jaeger UI has no formatter {name!r}")
    return value


def _jaeger_fill(template: str, trace: dict[str, Any]) -> str:
    """Fill a link pattern the way the Jaeger UI does: format, then encodeURIComponent."""

    def replace(match: re.Match[str]) -> str:
        name, *chain = (part.strip() for part in match.group(1).split("|"))
        assert name in trace, f"the Jaeger UI offers no trace variable {name!r}"
        return quote(str(_jaeger_format(trace[name], chain)), safe="-_.!~*'()")

    return re.sub(r"#\{([^{}]*)\}", replace, template)


SAMPLE_TRACE = {
    "traceID": TRACE_16,
    "traceName": "checkout: POST /orders",
    "startTime": 1_795_000_000_000_000,
    "endTime": 1_795_000_002_500_000,
    "duration": 2_500_000,
}


def test_committed_jaeger_ui_config_matches_a_fresh_rendering() -> None:
    committed = (KIBANA_DIR / "jaeger-ui-config.json").read_text(encoding="utf-8")
    assert committed == to_json(render_jaeger_ui_config())
    assert json.loads(committed)["linkPatterns"]


def test_jaeger_kibana_link_opens_the_traces_logs_in_discover() -> None:
    patterns = render_jaeger_ui_config()["linkPatterns"]
    assert all(p["type"] == "traces" for p in patterns)
    kibana = next(p for p in patterns if "/app/discover" in p["url"])
    url = _jaeger_fill(kibana["url"], SAMPLE_TRACE)
    assert url.startswith("http://localhost:5601/app/discover#/?")
    global_state, app_state = _discover_state(url)
    # The 16-digit ID the UI shows is padded to the 32 digits every log record carries.
    assert app_state["query"] == {"language": "kuery", "query": f'trace.id:"{TRACE_16:0>32}"'}
    assert app_state["index"] == LOG_DATA_VIEW_ID
    assert set(app_state["columns"]) <= LOG_FIELDS_AVAILABLE
    assert all(field in LOG_FIELDS_AVAILABLE for field, _ in app_state["sort"])
    # The time range covers the trace with five minutes on either side.
    start = datetime.fromisoformat(global_state["time"]["from"])
    end = datetime.fromisoformat(global_state["time"]["to"])
    assert (end - start).total_seconds() == pytest.approx(600 + 2.5)


def test_jaeger_correlate_link_pads_the_trace_id() -> None:
    patterns = render_jaeger_ui_config()["linkPatterns"]
    correlate = next(p for p in patterns if "/correlate/" in p["url"])
    assert _jaeger_fill(correlate["url"], SAMPLE_TRACE) == (
        f"http://localhost:8080/correlate/{TRACE_16:0>32}/view"
    )
    full = _jaeger_fill(correlate["url"], {**SAMPLE_TRACE, "traceID": TRACE_32})
    assert full == f"http://localhost:8080/correlate/{TRACE_32}/view"


def test_jaeger_links_follow_the_configured_urls() -> None:
    opts = RenderOptions(
        kibana_url="https://kb.example.com/kibana", api_public_url="https://tl.example.com"
    )
    urls = [p["url"] for p in render_jaeger_ui_config(opts)["linkPatterns"]]
    assert urls[0].startswith("https://kb.example.com/kibana/app/discover#/?")
    assert urls[1].startswith("https://tl.example.com/correlate/")


# -- Kibana URL formatters ------------------------------------------------------------------


def _kibana_url_format(template: str, value: str) -> str:
    """Kibana's URL formatter: ``{{value}}`` is URI-component encoded, ``{{rawValue}}`` not."""
    return template.replace("{{value}}", quote(value, safe="-_.!~*'()")).replace(
        "{{rawValue}}", value
    )


def test_span_data_view_links_to_the_logs_of_the_trace_in_discover() -> None:
    views = {o["id"]: o for o in render_saved_objects()}
    formats = json.loads(views[SPAN_DATA_VIEW_ID]["attributes"]["fieldFormatMap"])
    template = formats["tracelink.links.logs"]["params"]["urlTemplate"]
    # Kibana-relative ("discover#/…"): Kibana resolves it under <base path>/app/.
    assert template.startswith("discover#/?")
    _g, app_state = _discover_state(_kibana_url_format(template, TRACE_32))
    assert app_state["query"]["query"] == f'trace.id:"{TRACE_32}"'
    assert app_state["index"] == LOG_DATA_VIEW_ID


def test_log_data_view_links() -> None:
    views = {o["id"]: o for o in render_saved_objects()}
    formats = json.loads(views[LOG_DATA_VIEW_ID]["attributes"]["fieldFormatMap"])

    def link(field: str, value: str) -> str:
        return _kibana_url_format(formats[field]["params"]["urlTemplate"], value)

    assert link("trace.id", TRACE_32) == f"http://localhost:16686/trace/{TRACE_32}"
    assert link("tracelink.links.correlate", TRACE_32) == (
        f"http://localhost:8080/correlate/{TRACE_32}/view"
    )
    span = "00f067aa0ba902b7"
    assert link("tracelink.links.span", f"{TRACE_32}/view#span-{span}") == (
        f"http://localhost:8080/correlate/{TRACE_32}/view#span-{span}"
    )
