"""Where a trace can be looked at: this API, the Jaeger UI, and its logs in Kibana Discover.

The URL syntax (rison state, percent-encoding) lives in :mod:`kibana.links`, shared with the
Kibana objects and the Jaeger UI link patterns; this module only decides what a trace's
links show (the columns, the order, the time window around the trace).
"""

from __future__ import annotations

from typing import Final

from correlate.times import format_time_us
from kibana.links import correlate_view_url, discover_url, jaeger_trace_url
from tracelink.layout import LOG_FIELDS
from tracelink.settings import LinkSettings

__all__ = ["correlate_url", "kibana_discover_url", "trace_links"]

_DISCOVER_COLUMNS: Final = (
    LOG_FIELDS["service"],
    LOG_FIELDS["level"],
    LOG_FIELDS["span_id"],
    LOG_FIELDS["message"],
)
# Discover's time filter around the trace: logs shipped late or written by skewed clocks.
_TIME_MARGIN_US: Final = 15 * 60 * 1_000_000


def correlate_url(api_public_url: str, trace_id: str) -> str:
    """This API's JSON answer for the trace."""
    return f"{api_public_url.rstrip('/')}/correlate/{trace_id}"


def trace_links(links: LinkSettings, trace_id: str) -> dict[str, str]:
    """Where to look at a trace: this API (JSON and view) and the Jaeger UI."""
    return {
        "correlate": correlate_url(links.api_public_url, trace_id),
        "view": correlate_view_url(links.api_public_url, trace_id),
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
        time_from, time_to = "now-7d", "now"
    else:
        time_from = _kibana_time(start_us - _TIME_MARGIN_US)
        time_to = _kibana_time(end_us + _TIME_MARGIN_US)
    return discover_url(
        kibana_url,
        data_view_id=data_view,
        query=f'{LOG_FIELDS["trace_id"]}:"{trace_id}"',
        columns=_DISCOVER_COLUMNS,
        sort=((LOG_FIELDS["timestamp"], "asc"),),
        time_from=time_from,
        time_to=time_to,
    )


def _kibana_time(micros: int) -> str:
    # Kibana's time picker reads ISO 8601 with milliseconds.
    text = format_time_us(max(micros, 0))
    return text[:23] + "Z"
