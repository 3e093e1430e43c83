"""The Jaeger UI configuration: trace-level links to the trace's logs.

Jaeger's query service serves this JSON to the UI (v2: ``jaeger_query.ui.config_file``;
v1: ``--query.ui-config``). Each ``linkPatterns`` entry of type ``traces`` becomes a link on
the trace page; ``#{…}`` is filled in by the UI with the trace's ``traceID``, ``startTime``
and ``endTime`` (µs), through the formatters ``pad_start``, ``add`` and
``epoch_micros_to_date_iso``. The UI may show a 64-bit trace as 16 hex digits, while log
records always carry 32, hence ``pad_start 32 0``.

``kibana/jaeger-ui-config.json`` is the rendering with the default URLs.
"""

from __future__ import annotations

import json
from typing import Any, Final

from kibana.links import discover_path, fill, placeholder
from kibana.objects import LOG_DATA_VIEW_ID, RenderOptions
from tracelink.layout import LOG_FIELDS

__all__ = ["TRACE_ID_32", "render_jaeger_ui_config", "to_json"]

TRACE_ID_32: Final = "#{traceID | pad_start 32 0}"
# Logs a little before the first span and after the last one still belong to the trace.
_PAD_US: Final = 5 * 60 * 1_000_000
_FROM: Final = f"#{{startTime | add -{_PAD_US} | epoch_micros_to_date_iso}}"
_TO: Final = f"#{{endTime | add {_PAD_US} | epoch_micros_to_date_iso}}"


def _kibana_logs_pattern(opts: RenderOptions) -> str:
    path = discover_path(
        data_view_id=LOG_DATA_VIEW_ID,
        query=f'{LOG_FIELDS["trace_id"]}:"{placeholder("trace")}"',
        columns=(
            LOG_FIELDS["service"],
            LOG_FIELDS["level"],
            LOG_FIELDS["span_id"],
            LOG_FIELDS["message"],
        ),
        sort=((LOG_FIELDS["timestamp"], "asc"),),
        time_from=placeholder("start"),
        time_to=placeholder("end"),
    )
    return fill(
        f"{opts.kibana_url}/app/{path}",
        {"trace": TRACE_ID_32, "start": _FROM, "end": _TO},
    )


def render_jaeger_ui_config(opts: RenderOptions | None = None) -> dict[str, Any]:
    """The Jaeger UI config document with tracelink's link patterns."""
    opts = opts or RenderOptions()
    return {
        "linkPatterns": [
            {
                "type": "traces",
                "url": _kibana_logs_pattern(opts),
                "text": "Logs of this trace in Kibana",
            },
            {
                "type": "traces",
                "url": f"{opts.api_public_url}/correlate/{TRACE_ID_32}/view",
                "text": "Logs and spans in the tracelink correlate view",
            },
        ]
    }


def to_json(config: dict[str, Any]) -> str:
    """The file's text: stable key order, indented for people who read or edit it."""
    return json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
