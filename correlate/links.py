"""Links from a trace to the Jaeger UI, Kibana Discover and the API's own view.

Kibana keeps Discover's state in the URL fragment as rison (``_g`` global state, ``_a`` app
state), then percent-encoded except for the characters rison itself uses. The rison text
comes from the ``prison`` encoder (sorted keys, quoting of every string that is not a bare
identifier, ``!`` escapes).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import prison

from correlate.times import format_time_us
from tracelink.layout import LOG_FIELDS
from tracelink.settings import LinkSettings

__all__ = ["correlate_url", "jaeger_trace_url", "kibana_discover_url", "rison", "trace_links"]

# Kept as-is by Kibana's URL encoding of rison (plus what quote() never escapes).
_RISON_SAFE: Final = "!'(),:*@$/"
_DISCOVER_COLUMNS: Final = (
    LOG_FIELDS["service"],
    LOG_FIELDS["level"],
    LOG_FIELDS["span_id"],
    LOG_FIELDS["message"],
)
# Discover's time filter around the trace: logs shipped late or written by skewed clocks.
_TIME_MARGIN_US: Final = 15 * 60 * 1_000_000


def rison(value: Any) -> str:
    """``value`` as rison, percent-encoded for a URL fragment."""
    return quote(prison.dumps(value), safe=_RISON_SAFE)


def jaeger_trace_url(jaeger_ui_url: str, trace_id: str) -> str:
    """The trace page in the Jaeger UI (it accepts the 32-digit form for 64-bit IDs too)."""
    return f"{jaeger_ui_url}/trace/{trace_id}"


def correlate_url(api_public_url: str, trace_id: str, *, view: bool = False) -> str:
    """This API's JSON (or, with ``view``, HTML) answer for the trace."""
    return f"{api_public_url}/correlate/{trace_id}" + ("/view" if view else "")


def trace_links(links: LinkSettings, trace_id: str) -> dict[str, str]:
    """Where to look at a trace: this API (JSON and view) and the Jaeger UI."""
    return {
        "correlate": correlate_url(links.api_public_url, trace_id),
        "view": correlate_url(links.api_public_url, trace_id, view=True),
        "jaeger": jaeger_trace_url(links.jaeger_ui_url, trace_id),
    }


def kibana_discover_url(
    kibana_url: str,
    data_view: str,
    trace_id: str,
    *,
    start_us: int | None,
    end_us: int | None,
) -> str:
    """Discover showing the trace's logs, oldest first, in a window around the trace."""
    if start_us is None or end_us is None:
        time_range = {"from": "now-7d", "to": "now"}
    else:
        time_range = {
            "from": _kibana_time(start_us - _TIME_MARGIN_US),
            "to": _kibana_time(end_us + _TIME_MARGIN_US),
        }
    global_state = {"refreshInterval": {"pause": True, "value": 0}, "time": time_range}
    app_state = {
        "columns": list(_DISCOVER_COLUMNS),
        "index": data_view,
        "query": {"language": "kuery", "query": f'{LOG_FIELDS["trace_id"]}:"{trace_id}"'},
        "sort": [[LOG_FIELDS["timestamp"], "asc"]],
    }
    return f"{kibana_url}/app/discover#/?_g={rison(global_state)}&_a={rison(app_state)}"


def _kibana_time(micros: int) -> str:
    # Kibana's time picker reads ISO 8601 with milliseconds.
    text = format_time_us(max(micros, 0))
    return text[:23] + "Z"
