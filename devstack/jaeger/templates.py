"""The index templates Jaeger installs for its span and service indices (Elasticsearch 8).

In production Jaeger installs these itself (``es.create-index-templates``); the embedded
stack has no Jaeger, so the devstack installs equivalent ones before the first span is
written. Without them dynamic mapping would make ``traceID`` a ``text`` field and every
exact trace lookup would miss.

The mapping follows Jaeger's documented ES 8 span mapping: IDs, operation and service names
as ``keyword`` (``ignore_above`` 256), times as ``long`` plus ``startTimeMillis`` as an
``epoch_millis`` date for range filters, tags/logs/references as ``nested`` lists of
``{key, type, value}`` with ``value`` a keyword (native JSON values are indexed as their text),
and ``tag.*`` / ``process.tag.*`` (tags-as-fields) as keywords. No ILM and no rollover alias:
the devstack writes daily indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tracelink.layout import jaeger_index_name

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch, Elasticsearch

__all__ = [
    "install_jaeger_templates",
    "install_jaeger_templates_sync",
    "jaeger_index_templates",
    "jaeger_service_template",
    "jaeger_span_template",
]

_KEYWORD: Final = {"type": "keyword", "ignore_above": 256}
_KEY_VALUE_LIST: Final = {
    "type": "nested",
    "dynamic": False,
    "properties": {"key": _KEYWORD, "type": _KEYWORD, "value": _KEYWORD},
}
_SETTINGS: Final = {
    "index.mapping.nested_fields.limit": 50,
    "index.requests.cache.enable": True,
}


def _dynamic_keyword(name: str, path: str) -> dict[str, Any]:
    return {name: {"path_match": path, "mapping": dict(_KEYWORD)}}


def _base(jaeger_prefix: str, kind: str) -> str:
    return jaeger_index_name(jaeger_prefix, f"jaeger-{kind}")


def _template(
    jaeger_prefix: str, kind: str, dynamic: list[dict[str, Any]], properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "index_patterns": [_base(jaeger_prefix, kind) + "-*"],
        "priority": 500,
        "_meta": {"managed_by": "tracelink-devstack", "description": f"Jaeger {kind} indices"},
        "template": {
            "settings": dict(_SETTINGS),
            "mappings": {
                "dynamic_templates": [
                    _dynamic_keyword("span_tags_map", "tag.*"),
                    _dynamic_keyword("process_tags_map", "process.tag.*"),
                    *dynamic,
                ],
                "properties": properties,
            },
        },
    }


def jaeger_span_template(jaeger_prefix: str = "") -> dict[str, Any]:
    """Body of ``PUT _index_template/[<prefix>-]jaeger-span`` for ``[<prefix>-]jaeger-span-*``."""
    return _template(
        jaeger_prefix,
        "span",
        [_dynamic_keyword("scope_tags_map", "scopeTag.*")],
        {
            "traceID": _KEYWORD,
            "spanID": _KEYWORD,
            "parentSpanID": _KEYWORD,
            "operationName": _KEYWORD,
            "flags": {"type": "integer"},
            "startTime": {"type": "long"},
            "startTimeMillis": {"type": "date", "format": "epoch_millis"},
            "duration": {"type": "long"},
            "references": {
                "type": "nested",
                "dynamic": False,
                "properties": {
                    "refType": _KEYWORD,
                    "traceID": _KEYWORD,
                    "spanID": _KEYWORD,
                    "traceState": _KEYWORD,
                    "flags": {"type": "integer"},
                    "tags": _KEY_VALUE_LIST,
                },
            },
            "tags": _KEY_VALUE_LIST,
            "tag": {"type": "object"},
            "scopeTags": _KEY_VALUE_LIST,
            "scopeTag": {"type": "object"},
            "logs": {
                "type": "nested",
                "dynamic": False,
                "properties": {
                    "timestamp": {"type": "long"},
                    "fields": _KEY_VALUE_LIST,
                },
            },
            "process": {
                "properties": {
                    "serviceName": _KEYWORD,
                    "tags": _KEY_VALUE_LIST,
                    "tag": {"type": "object"},
                }
            },
        },
    )


def jaeger_service_template(jaeger_prefix: str = "") -> dict[str, Any]:
    """Body of ``PUT _index_template/[<prefix>-]jaeger-service`` (service:operation pairs)."""
    return _template(
        jaeger_prefix, "service", [], {"serviceName": _KEYWORD, "operationName": _KEYWORD}
    )


def jaeger_index_templates(jaeger_prefix: str = "") -> dict[str, dict[str, Any]]:
    """Template name → body, named as Jaeger names them (``[<prefix>-]jaeger-span`` …)."""
    return {
        _base(jaeger_prefix, "span"): jaeger_span_template(jaeger_prefix),
        _base(jaeger_prefix, "service"): jaeger_service_template(jaeger_prefix),
    }


async def install_jaeger_templates(
    client: AsyncElasticsearch, jaeger_prefix: str = ""
) -> list[str]:
    """Install (or update in place) both templates; idempotent. Returns their names.

    Indices that already exist keep their mapping; the templates apply from the next daily
    index on.
    """
    names = []
    for name, body in jaeger_index_templates(jaeger_prefix).items():
        await client.indices.put_index_template(name=name, **body)
        names.append(name)
    return names


def install_jaeger_templates_sync(client: Elasticsearch, jaeger_prefix: str = "") -> list[str]:
    """:func:`install_jaeger_templates` for the synchronous client (the span exporter's)."""
    names = []
    for name, body in jaeger_index_templates(jaeger_prefix).items():
        client.indices.put_index_template(name=name, **body)
        names.append(name)
    return names
