"""Helpers for the Kibana object tests: which fields objects use, which fields exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_KQL_FIELD = re.compile(r"(?<![\w.@])([A-Za-z_@][\w.@]*)\s*:")
_PAINLESS_DOC = re.compile(r"doc\['([^']+)'\]")


def mapping_fields(properties: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every leaf and object path of a mapping's ``properties``, dotted."""
    names: set[str] = set()
    for name, spec in properties.items():
        path = prefix + name
        names.add(path)
        if isinstance(spec, Mapping) and "properties" in spec:
            names |= mapping_fields(spec["properties"], path + ".")
    return names


def kql_fields(query: str) -> set[str]:
    """The field names a KQL query mentions (quoted values ignored)."""
    return set(_KQL_FIELD.findall(_QUOTED.sub('""', query)))


def painless_fields(script: str) -> set[str]:
    return set(_PAINLESS_DOC.findall(script))


def _tsvb_usage(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "time_field", params["time_field"]
    for series in params["series"]:
        if series.get("terms_field"):
            yield "terms_field", series["terms_field"]
        if series.get("filter"):
            for name in kql_fields(series["filter"]["query"]):
                yield "series filter", name
        for metric in series["metrics"]:
            if metric.get("field"):
                yield "metric field", metric["field"]
            for side in ("numerator", "denominator"):
                if metric.get(side):
                    for name in kql_fields(metric[side]["query"]):
                        yield side, name


def fields_used(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, field)`` for every field a saved object uses, in its own data view."""
    attributes = obj["attributes"]
    if obj["type"] == "index-pattern":
        runtime = json.loads(attributes["runtimeFieldMap"])
        for name in json.loads(attributes["fieldFormatMap"]):
            yield "formatter", name
        for name in json.loads(attributes["fieldAttrs"]):
            yield "field attributes", name
        for spec in runtime.values():
            for name in painless_fields(spec["script"]["source"]):
                yield "runtime field script", name
        yield "time field", attributes["timeFieldName"]
    elif obj["type"] == "search":
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        for name in kql_fields(source["query"]["query"]):
            yield "query", name
        for entry in source.get("filter", []):
            yield "filter", entry["meta"]["key"]
        for name in attributes["columns"]:
            yield "column", name
        for name, _direction in attributes["sort"]:
            yield "sort", name
    elif obj["type"] == "visualization":
        vis_state = json.loads(attributes["visState"])
        yield from _tsvb_usage(vis_state["params"])


def data_view_of(obj: Mapping[str, Any]) -> str | None:
    """The id of the data view a search or visualization reads."""
    for ref in obj["references"]:
        if ref["type"] == "index-pattern":
            return str(ref["id"])
    return str(obj["id"]) if obj["type"] == "index-pattern" else None


def runtime_fields(data_view: Mapping[str, Any]) -> set[str]:
    return set(json.loads(data_view["attributes"]["runtimeFieldMap"]))
