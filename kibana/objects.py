"""The Kibana saved objects tracelink ships, rendered for one deployment.

:func:`render_saved_objects` builds the data views, saved searches, visualizations and the
"Correlation health" dashboard for given link base URLs and index prefixes;
:func:`to_ndjson` writes them in the import/export format. ``kibana/saved_objects.ndjson``
is the rendering with the defaults, for people who import by hand.

Portability across Kibana 8.0 … latest 8.x: objects carry the legacy ``migrationVersion``
of Kibana 8.0's own sample data and no ``coreMigrationVersion``. A Kibana rejects versions
newer than it knows (8.0 rejects ``coreMigrationVersion: 8.8.0``) and runs every migration
newer than the stated one, so these versions are accepted by 8.0 and brought up to date by
every later release. The attribute shapes are those 8.0 writes.

Ids are fixed (``tracelink-…``), so re-importing with overwrite replaces, never duplicates.
Field names come from :mod:`tracelink.layout` (logs, dead letters) and Jaeger's span mapping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kibana.links import (
    correlate_view_url,
    discover_path,
    fill,
    jaeger_trace_url,
    placeholder,
)
from tracelink.layout import (
    DLQ_FIELDS,
    LOG_FIELDS,
    dlq_index_pattern,
    jaeger_span_pattern,
    log_index_pattern,
)
from tracelink.levels import ERROR_LEVELS, LEVEL_NAMES
from tracelink.settings import ElasticsearchSettings, LinkSettings

__all__ = [
    "DASHBOARD_ID",
    "DLQ_DATA_VIEW_ID",
    "JAEGER_SPAN_FIELDS",
    "LOG_DATA_VIEW_ID",
    "MIGRATION_VERSIONS",
    "SPAN_DATA_VIEW_ID",
    "RenderOptions",
    "render_saved_objects",
    "to_ndjson",
]

LOG_DATA_VIEW_ID: Final = "tracelink-logs"
SPAN_DATA_VIEW_ID: Final = "tracelink-jaeger-spans"
DLQ_DATA_VIEW_ID: Final = "tracelink-dlq"
DASHBOARD_ID: Final = "tracelink-correlation-health"

# What Kibana 8.0.0's own sample data declares; see the module docstring.
MIGRATION_VERSIONS: Final = {
    "index-pattern": "7.11.0",
    "search": "7.9.3",
    "visualization": "7.14.0",
    "dashboard": "7.14.0",
}
_PANEL_VERSION: Final = "7.14.0"

# The fields of Jaeger's span documents the objects use (all Jaeger eras have them).
JAEGER_SPAN_FIELDS: Final = (
    "traceID",
    "spanID",
    "operationName",
    "duration",
    "startTime",
    "startTimeMillis",
    "process.serviceName",
)

# A log is an error when its level is one of these (the level table's error names, in the
# table's order so that the saved objects stay stable).
_ERROR_LEVELS: Final = tuple(name for name in LEVEL_NAMES if name in ERROR_LEVELS)

_L = LOG_FIELDS
_D = DLQ_FIELDS


@dataclass(frozen=True)
class RenderOptions:
    """Everything a rendering depends on; the defaults are the documented settings' defaults."""

    jaeger_ui_url: str = "http://localhost:16686"
    api_public_url: str = "http://localhost:8080"
    kibana_url: str = "http://localhost:5601"
    log_index_prefix: str = "tracelink-logs"
    dlq_index_prefix: str = "tracelink-dlq"
    jaeger_index_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: ElasticsearchSettings | LinkSettings) -> RenderOptions:
        """Take whatever ``settings`` has (index prefixes, link URLs); defaults for the rest."""
        known = {name: getattr(settings, name, None) for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in known.items() if v is not None})

    def __post_init__(self) -> None:
        for name in ("jaeger_ui_url", "api_public_url", "kibana_url"):
            object.__setattr__(self, name, str(getattr(self, name)).rstrip("/"))


def _json(value: Any) -> str:
    """Compact JSON with sorted keys: nested JSON strings render the same every time."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stable_id(*parts: str) -> str:
    """A UUID that is the same on every rendering (TSVB wants UUID-shaped ids)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "tracelink:" + ":".join(parts)))


def _kql_any(field: str, values: Sequence[str]) -> str:
    return f"{field}:({' or '.join(values)})"


def _url_format(url_template: str, label_template: str = "{{value}}") -> dict[str, Any]:
    return {
        "id": "url",
        "params": {
            "urlTemplate": url_template,
            "labelTemplate": label_template,
            "openLinkInCurrentTab": False,
        },
    }


def _painless_emit_id(field: str, *, pad: bool) -> str:
    """Painless that emits a doc's ID field (lower case, optionally padded to 32 hex)."""
    pad_loop = "while (v.length() < 32) { v = '0' + v; } " if pad else ""
    return (
        f"if (doc.containsKey('{field}') && doc['{field}'].size() > 0) "
        f"{{ String v = doc['{field}'].value.toLowerCase(); {pad_loop}emit(v); }}"
    )


def _data_view(
    view_id: str,
    *,
    title: str,
    name: str,
    time_field: str,
    field_formats: Mapping[str, Any],
    runtime_fields: Mapping[str, Any] | None = None,
    field_attrs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "attributes": {
            "fieldAttrs": _json(field_attrs or {}),
            "fieldFormatMap": _json(field_formats),
            "fields": "[]",
            "name": name,
            "runtimeFieldMap": _json(runtime_fields or {}),
            "sourceFilters": "[]",
            "timeFieldName": time_field,
            "title": title,
            "typeMeta": "{}",
        },
        "id": view_id,
        "migrationVersion": {"index-pattern": MIGRATION_VERSIONS["index-pattern"]},
        "references": [],
        "type": "index-pattern",
    }


def _log_data_view(opts: RenderOptions) -> dict[str, Any]:
    trace_id, span_id = _L["trace_id"], _L["span_id"]
    trace_link, span_link = "tracelink.links.correlate", "tracelink.links.span"
    return _data_view(
        LOG_DATA_VIEW_ID,
        title=log_index_pattern(opts.log_index_prefix),
        name="tracelink logs",
        time_field=_L["timestamp"],
        field_formats={
            # trace.id opens the trace in the Jaeger UI ...
            trace_id: _url_format(jaeger_trace_url(opts.jaeger_ui_url, "{{value}}")),
            # ... and these runtime fields open it (or one span of it) in the correlate view.
            trace_link: _url_format(
                correlate_view_url(opts.api_public_url, "{{value}}"), "logs and spans"
            ),
            span_link: _url_format(
                # The value is "<trace>/view#span-<span>": raw, or the '/' and '#' get encoded.
                f"{opts.api_public_url}/correlate/{{{{rawValue}}}}",
                "this span in the correlate view",
            ),
        },
        runtime_fields={
            trace_link: {
                "type": "keyword",
                "script": {"source": _painless_emit_id(trace_id, pad=False)},
            },
            span_link: {
                "type": "keyword",
                "script": {
                    "source": (
                        f"if (doc.containsKey('{trace_id}') && doc['{trace_id}'].size() > 0 "
                        f"&& doc.containsKey('{span_id}') && doc['{span_id}'].size() > 0) "
                        f"{{ emit(doc['{trace_id}'].value + '/view#span-' "
                        f"+ doc['{span_id}'].value); }}"
                    )
                },
            },
        },
        field_attrs={
            trace_link: {"customLabel": "Correlate view (trace)"},
            span_link: {"customLabel": "Correlate view (span)"},
        },
    )


def _span_data_view(opts: RenderOptions) -> dict[str, Any]:
    logs_link, trace_link = "tracelink.links.logs", "tracelink.links.correlate"
    logs_of_trace = fill(
        discover_path(
            data_view_id=LOG_DATA_VIEW_ID,
            query=f'{_L["trace_id"]}:"{placeholder("trace")}"',
            columns=(_L["service"], _L["level"], _L["span_id"], _L["message"]),
            sort=((_L["timestamp"], "asc"),),
            time_from="now-30d",
        ),
        {"trace": "{{value}}"},
    )
    return _data_view(
        SPAN_DATA_VIEW_ID,
        title=jaeger_span_pattern(opts.jaeger_index_prefix),
        name="Jaeger spans",
        time_field="startTimeMillis",
        field_formats={
            "traceID": _url_format(jaeger_trace_url(opts.jaeger_ui_url, "{{value}}")),
            logs_link: _url_format(logs_of_trace, "logs of this trace"),
            trace_link: _url_format(
                correlate_view_url(opts.api_public_url, "{{value}}"), "logs and spans"
            ),
        },
        runtime_fields={
            # Older Jaeger writes 16-digit trace IDs; the logs always carry 32 digits.
            name: {"type": "keyword", "script": {"source": _painless_emit_id("traceID", pad=True)}}
            for name in (logs_link, trace_link)
        },
        field_attrs={
            logs_link: {"customLabel": "Logs in Discover"},
            trace_link: {"customLabel": "Correlate view"},
        },
    )


def _dlq_data_view(opts: RenderOptions) -> dict[str, Any]:
    return _data_view(
        DLQ_DATA_VIEW_ID,
        title=dlq_index_pattern(opts.dlq_index_prefix),
        name="tracelink dead letters",
        time_field=_D["timestamp"],
        field_formats={},
    )


def _search(
    search_id: str,
    *,
    title: str,
    description: str,
    data_view_id: str,
    query: str,
    columns: Sequence[str],
    sort: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    source = {
        "highlightAll": True,
        "version": True,
        "query": {"query": query, "language": "kuery"},
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return {
        "attributes": {
            "columns": list(columns),
            "description": description,
            "hits": 0,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
            "sort": [[field, direction] for field, direction in sort],
            "title": title,
            "version": 1,
        },
        "id": search_id,
        "migrationVersion": {"search": MIGRATION_VERSIONS["search"]},
        "references": [
            {
                "id": data_view_id,
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                "type": "index-pattern",
            }
        ],
        "type": "search",
    }


# A trace ID no log carries: the "logs of one trace" search shows nothing until it is replaced.
TRACE_ID_TO_FILL_IN: Final = "PASTE-THE-32-HEX-TRACE-ID-HERE"


def _searches() -> list[dict[str, Any]]:
    trace, level, service, message = _L["trace_id"], _L["level"], _L["service"], _L["message"]
    newest_first = ((_L["timestamp"], "desc"),)
    return [
        _search(
            "tracelink-logs-of-one-trace",
            title="tracelink: logs of one trace",
            description=(
                "Every log record of one trace in time order. Replace the placeholder in the "
                "query with the trace ID (32 lower-case hex digits; pad a 16-digit Jaeger ID "
                "with zeros on the left)."
            ),
            data_view_id=LOG_DATA_VIEW_ID,
            query=f'{trace}:"{TRACE_ID_TO_FILL_IN}"',
            columns=(service, level, _L["span_id"], _L["logger"], message),
            sort=((_L["timestamp"], "asc"),),
        ),
        _search(
            "tracelink-error-logs-with-trace",
            title="tracelink: error logs that carry a trace",
            description="Error records with trace context: each one opens its trace.",
            data_view_id=LOG_DATA_VIEW_ID,
            query=f"{_kql_any(level, _ERROR_LEVELS)} and {trace}:*",
            columns=(service, level, trace, _L["error_type"], message),
            sort=newest_first,
        ),
        _search(
            "tracelink-logs-without-trace",
            title="tracelink: logs without trace context, per service",
            description=(
                "Records written outside any span (no trace.id), grouped by service: code "
                "paths that are not instrumented, or logs emitted before a span starts."
            ),
            data_view_id=LOG_DATA_VIEW_ID,
            query=f"not {trace}:*",
            columns=(service, level, _L["logger"], message),
            sort=((service, "asc"), (_L["timestamp"], "desc")),
        ),
        _search(
            "tracelink-unsampled-traffic",
            title="tracelink: unsampled traffic",
            description=(
                "Records whose trace was not sampled: the logs are here, the spans are not "
                "in Jaeger."
            ),
            data_view_id=LOG_DATA_VIEW_ID,
            query=f"{_L['sampled']}:false",
            columns=(service, level, trace, message),
            sort=newest_first,
        ),
        _search(
            "tracelink-dead-letters",
            title="tracelink: dead-lettered records",
            description=(
                "Kafka messages the shipper could not index, with the reason and where they "
                "came from (topic/partition/offset). The payload is kept as text."
            ),
            data_view_id=DLQ_DATA_VIEW_ID,
            query="",
            columns=(_D["error_type"], _D["reason"], _D["origin"], _D["payload"]),
            sort=((_D["timestamp"], "desc"),),
        ),
    ]


def _tsvb_series(
    key: str,
    *,
    label: str,
    metric: dict[str, Any],
    split_field: str,
    chart_type: str,
    formatter: str = "number",
    series_filter: str | None = None,
) -> dict[str, Any]:
    series: dict[str, Any] = {
        "id": _stable_id(key, "series"),
        "label": label,
        "color": "#54B399",
        "split_mode": "terms",
        "terms_field": split_field,
        "terms_size": "10",
        "terms_order_by": "_count",
        "split_color_mode": "kibana",
        "palette": {"type": "palette", "name": "kibana_palette"},
        "metrics": [{"id": _stable_id(key, "metric"), **metric}],
        "separate_axis": 0,
        "axis_position": "right",
        "formatter": formatter,
        "chart_type": chart_type,
        "line_width": 2,
        "point_size": 1,
        "fill": 0.5 if chart_type == "bar" else 0,
        "stacked": "stacked" if chart_type == "bar" else "none",
        "override_index_pattern": 0,
        "series_drop_last_bucket": 0,
    }
    if series_filter is not None:
        series["filter"] = {"query": series_filter, "language": "kuery"}
    return series


def _tsvb(
    vis_id: str,
    *,
    title: str,
    description: str,
    data_view_id: str,
    time_field: str,
    series: dict[str, Any],
    axis_formatter: str = "number",
    axis_range: tuple[str, str] | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "id": _stable_id(vis_id, "panel"),
        "type": "timeseries",
        "series": [_tsvb_series(vis_id, **series)],
        "time_field": time_field,
        "use_kibana_indexes": True,
        # The data view is a reference (below), as Kibana stores it when it saves a TSVB.
        "index_pattern_ref_name": "metrics_0_index_pattern",
        "interval": "auto",
        "axis_position": "left",
        "axis_formatter": axis_formatter,
        "axis_scale": "normal",
        "show_legend": 1,
        "legend_position": "bottom",
        "truncate_legend": 1,
        "max_lines_legend": 1,
        "show_grid": 1,
        "tooltip_mode": "show_all",
        "drop_last_bucket": 0,
        "time_range_mode": "entire_time_range",
        "isModelInvalid": False,
    }
    if axis_range is not None:
        params["axis_min"], params["axis_max"] = axis_range
    vis_state = {"title": title, "type": "metrics", "aggs": [], "params": params}
    return {
        "attributes": {
            "description": description,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _json(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
            "title": title,
            "uiStateJSON": "{}",
            "version": 1,
            "visState": _json(vis_state),
        },
        "id": vis_id,
        "migrationVersion": {"visualization": MIGRATION_VERSIONS["visualization"]},
        "references": [
            {"id": data_view_id, "name": "metrics_0_index_pattern", "type": "index-pattern"}
        ],
        "type": "visualization",
    }


def _visualizations() -> list[dict[str, Any]]:
    trace, service = _L["trace_id"], _L["service"]
    return [
        _tsvb(
            "tracelink-trace-context-share",
            title="tracelink: share of logs with trace context, per service",
            description="Records that carry trace.id divided by all records, per service.",
            data_view_id=LOG_DATA_VIEW_ID,
            time_field=_L["timestamp"],
            axis_formatter="percent",
            axis_range=("0", "1"),
            series={
                "label": "with trace context",
                "metric": {
                    "type": "filter_ratio",
                    "numerator": {"query": f"{trace}:*", "language": "kuery"},
                    "denominator": {"query": "*", "language": "kuery"},
                    "metric_agg": "count",
                },
                "split_field": service,
                "chart_type": "line",
                "formatter": "percent",
            },
        ),
        _tsvb(
            "tracelink-error-logs-with-trace-over-time",
            title="tracelink: error logs with traces, per service",
            description="Error records that carry trace context, per service.",
            data_view_id=LOG_DATA_VIEW_ID,
            time_field=_L["timestamp"],
            series={
                "label": "error logs with a trace",
                "metric": {"type": "count"},
                "split_field": service,
                "chart_type": "bar",
                "series_filter": f"{_kql_any(_L['level'], _ERROR_LEVELS)} and {trace}:*",
            },
        ),
        _tsvb(
            "tracelink-dead-letters-over-time",
            title="tracelink: dead letters, per error type",
            description="Kafka messages the shipper dead-lettered, by error type.",
            data_view_id=DLQ_DATA_VIEW_ID,
            time_field=_D["timestamp"],
            series={
                "label": "dead letters",
                "metric": {"type": "count"},
                "split_field": _D["error_type"],
                "chart_type": "bar",
            },
        ),
    ]


def _dashboard(
    panels: Sequence[tuple[dict[str, Any], tuple[int, int, int, int]]],
) -> dict[str, Any]:
    panel_json: list[dict[str, Any]] = []
    references: list[dict[str, str]] = []
    for index, (target, (x, y, w, h)) in enumerate(panels, start=1):
        key = str(index)
        panel_json.append(
            {
                "version": _PANEL_VERSION,
                "type": target["type"],
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": key},
                "panelIndex": key,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{key}",
            }
        )
        references.append(
            {"id": target["id"], "name": f"{key}:panel_{key}", "type": target["type"]}
        )
    return {
        "attributes": {
            "description": (
                "Is trace context reaching the logs? Share of records with trace.id per "
                "service, error logs that carry a trace, and dead letters."
            ),
            "hits": 0,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _json(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
            "optionsJSON": _json(
                {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
            ),
            "panelsJSON": _json(panel_json),
            "refreshInterval": {"pause": False, "value": 60000},
            "timeFrom": "now-24h",
            "timeRestore": True,
            "timeTo": "now",
            "title": "Correlation health",
            "version": 1,
        },
        "id": DASHBOARD_ID,
        "migrationVersion": {"dashboard": MIGRATION_VERSIONS["dashboard"]},
        "references": references,
        "type": "dashboard",
    }


def render_saved_objects(opts: RenderOptions | None = None) -> list[dict[str, Any]]:
    """All saved objects, referenced objects before the objects that reference them."""
    opts = opts or RenderOptions()
    searches = {obj["id"]: obj for obj in _searches()}
    visualizations = {obj["id"]: obj for obj in _visualizations()}
    dashboard = _dashboard(
        [
            (visualizations["tracelink-trace-context-share"], (0, 0, 48, 15)),
            (visualizations["tracelink-error-logs-with-trace-over-time"], (0, 15, 24, 13)),
            (visualizations["tracelink-dead-letters-over-time"], (24, 15, 24, 13)),
            (searches["tracelink-error-logs-with-trace"], (0, 28, 24, 18)),
            (searches["tracelink-dead-letters"], (24, 28, 24, 18)),
        ]
    )
    return [
        _log_data_view(opts),
        _span_data_view(opts),
        _dlq_data_view(opts),
        *searches.values(),
        *visualizations.values(),
        dashboard,
    ]


def to_ndjson(objects: Iterable[Mapping[str, Any]]) -> str:
    """One object per line (the saved objects import/export format), newline-terminated."""
    return "".join(_json(obj) + "\n" for obj in objects)
