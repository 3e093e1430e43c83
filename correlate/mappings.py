"""Indices created without tracelink's or Jaeger's index templates, and how to read them.

When Jaeger runs with ``create_mappings: false``, or logs are indexed by another tool,
Elasticsearch maps strings dynamically: ``text`` with a ``keyword`` sub-field named
``<field>.keyword`` (Elasticsearch 8's default). A ``text`` field cannot be sorted on or
collapsed by, so the API's queries are refused (HTTP 400 inside ``_msearch``), and an
exact ``term`` on it only matches what the analyzer left intact.

:func:`plan_reads` turns a ``_field_caps`` answer (``include_unmapped=true``) into groups
of concrete indices: those read as usual, those read through the ``.keyword`` sub-fields,
and those that cannot be read at all (a ``text`` ID field without a ``keyword`` sub-field),
each named with the field and what to install. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "LOG_ID_FIELDS",
    "RECENT_FIELDS",
    "SPAN_ID_FIELDS",
    "ReadPlan",
    "field_caps_fields",
    "plan_reads",
]

# The exact-value fields each query sorts on, collapses by or matches exactly.
SPAN_ID_FIELDS: Final = ("traceID", "spanID")
LOG_ID_FIELDS: Final = ("trace.id", "event.id")
RECENT_FIELDS: Final = ("trace.id", "service.name", "log.level")

_SUBFIELD: Final = ".keyword"
_TEXT: Final = frozenset({"text", "match_only_text"})


@dataclass(frozen=True)
class ReadPlan:
    """Concrete indices by how to read them; ``problems`` are sentences for the user."""

    exact: list[str] = field(default_factory=list)
    via_keyword: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def needs_keyword(self) -> bool:
        return bool(self.via_keyword or self.problems)


def field_caps_fields(fields: Sequence[str]) -> list[str]:
    """The fields to ask ``_field_caps`` about: each and its ``.keyword`` sub-field."""
    return [name for base in fields for name in (base, base + _SUBFIELD)]


def _types_by_index(caps: Mapping[str, Any], name: str, indices: Sequence[str]) -> dict[str, str]:
    """Concrete index → mapped type of ``name`` (``unmapped`` where it is absent).

    A type listed without ``indices`` holds for every index of the answer.
    """
    types: dict[str, str] = {}
    entry = caps.get("fields", {}).get(name, {})
    if isinstance(entry, Mapping):
        for type_name, info in entry.items():
            listed = info.get("indices") if isinstance(info, Mapping) else None
            for index in listed or indices:
                types[index] = str(type_name)
    return {index: types.get(index, "unmapped") for index in indices}


def plan_reads(caps: Mapping[str, Any], fields: Sequence[str], install: str) -> ReadPlan:
    """How to read the indices of a ``_field_caps`` answer for ``fields``.

    An index is read as usual when none of ``fields`` is ``text``; through the ``.keyword``
    sub-fields when every ``text`` one has a ``keyword`` sub-field; otherwise it is named in
    ``problems`` with ``install`` (what would have mapped it right).
    """
    indices = [str(index) for index in caps.get("indices", [])]
    types = {name: _types_by_index(caps, name, indices) for name in fields}
    subtypes = {name: _types_by_index(caps, name + _SUBFIELD, indices) for name in fields}
    plan = ReadPlan()
    for index in indices:
        text_fields = [name for name in fields if types[name][index] in _TEXT]
        if not text_fields:
            plan.exact.append(index)
            continue
        missing = [name for name in text_fields if subtypes[name][index] != "keyword"]
        if not missing:
            plan.via_keyword.append(index)
            continue
        plan.problems.append(
            f"index {index}: field {missing[0]} is mapped as text without a keyword sub-field, "
            f"so the API cannot read it exactly; {install}"
        )
    return plan
