"""URLs into Kibana Discover, the Jaeger UI and the correlate view.

Discover keeps its state in the URL fragment as rison (``_g`` = global state such as the
time range, ``_a`` = app state such as the data view, query, columns and sort), then
percent-encoded. The same builder serves absolute URLs (links from the Jaeger UI or the
API) and Kibana-relative ones (URL field formatters inside Kibana, which resolve
``discover#/…`` against Kibana's own base path).

Some URLs are templates filled in later by another program: the Jaeger UI substitutes
``#{traceID | pad_start 32 0}`` in its link patterns, Kibana substitutes ``{{value}}`` in its
URL formatters. Those substitutions must survive rison quoting and percent-encoding, so the
builders put a :func:`placeholder` token where the variable goes and :func:`fill` swaps in
the real template syntax at the very end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import rison

__all__ = [
    "correlate_view_url",
    "discover_path",
    "discover_url",
    "fill",
    "jaeger_trace_url",
    "placeholder",
    "rison_component",
]

# Characters Kibana (rison-node's URL encoding) leaves as they are; everything else is
# percent-encoded. Both '@' and ':' are in the set, which is what makes placeholders safe.
_RISON_URL_SAFE: Final = "!'(),:*~-_.@$/"


def placeholder(name: str) -> str:
    """A token that rison always quotes and percent-encoding never changes.

    It contains ':' (so rison quotes it, as a real time stamp or query would be) and only
    characters that are safe in the URL. ``name`` must be alphanumeric.
    """
    if not name.isalnum():
        raise ValueError(f"placeholder names are alphanumeric, not {name!r}")
    return f"@@tl:{name}@@"


def fill(url: str, substitutions: Mapping[str, str]) -> str:
    """Replace each :func:`placeholder` in ``url`` with the given template text."""
    for name, text in substitutions.items():
        token = placeholder(name)
        if token not in url:
            raise ValueError(f"{token} does not occur in the URL")
        url = url.replace(token, text)
    return url


def rison_component(value: Any) -> str:
    """``value`` as rison, percent-encoded the way Kibana writes its URL state."""
    return quote(rison.dumps(value), safe=_RISON_URL_SAFE)


def discover_path(
    *,
    data_view_id: str,
    query: str,
    columns: Sequence[str] = (),
    sort: Sequence[tuple[str, str]] = (("@timestamp", "desc"),),
    time_from: str = "now-15m",
    time_to: str = "now",
) -> str:
    """The Kibana-relative Discover location (``discover#/?_g=…&_a=…``) for a KQL query.

    Relative to ``<kibana>/app/``: prefix it with that for an absolute URL. Discover on every
    8.x accepts ``_a.index`` (later versions also write ``_a.dataSource``).
    """
    global_state = {"time": {"from": time_from, "to": time_to}}
    app_state = {
        "columns": list(columns),
        "index": data_view_id,
        "query": {"language": "kuery", "query": query},
        "sort": [[field, direction] for field, direction in sort],
    }
    return f"discover#/?_g={rison_component(global_state)}&_a={rison_component(app_state)}"


def discover_url(kibana_url: str, **state: Any) -> str:
    """The absolute Discover URL on the Kibana at ``kibana_url``; see :func:`discover_path`."""
    return f"{kibana_url.rstrip('/')}/app/{discover_path(**state)}"


def jaeger_trace_url(jaeger_ui_url: str, trace_id: str) -> str:
    """The Jaeger UI page of one trace."""
    return f"{jaeger_ui_url.rstrip('/')}/trace/{trace_id}"


def correlate_view_url(api_public_url: str, trace_id: str, span_id: str | None = None) -> str:
    """The correlate API's HTML view of one trace, optionally scrolled to one span."""
    url = f"{api_public_url.rstrip('/')}/correlate/{trace_id}/view"
    return f"{url}#span-{span_id}" if span_id else url
