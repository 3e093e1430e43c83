"""Check a YAML configuration against the keys the program reading it really accepts.

Servers configured by YAML (Jaeger v2, the OpenTelemetry Collector) decode it with
``mapstructure`` into Go structs and refuse a key no struct field names, or a field that is
deprecated and rejected. No such server runs on the development and CI machines, so a test
encodes the accepted keys as a schema, derived from the server's config structs at the
pinned version and citing them, and checks the file against it with :func:`problems`.

A schema is plain data built from four node types:

- a ``dict`` — a struct: its keys are the ``mapstructure`` names of the fields (squashed
  structs merged in); any other key is an error;
- :data:`LEAF` — a scalar or a list of scalars (a string, a duration, ``[a, b]``); a mapping
  there is an error;
- :class:`MapOf` — a Go map with keys of the user's choosing (backend names, pipeline IDs),
  every value checked against one schema;
- :data:`ANY` — accepted as it is (a free-form map such as resource attributes, or a part
  the test deliberately does not model);
- :class:`Deprecated` — a field the struct still has but the server rejects or will reject;
  present at all (even ``false``), it is an error with the reason.

Pure functions, no I/O: the caller loads the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = ["ANY", "LEAF", "Deprecated", "MapOf", "Node", "problems"]


@dataclass(frozen=True)
class _Marker:
    name: str

    def __repr__(self) -> str:
        return self.name


LEAF: Final = _Marker("LEAF")
ANY: Final = _Marker("ANY")


@dataclass(frozen=True)
class MapOf:
    """A map whose keys the user chooses; each value is checked against ``value``."""

    value: Node


@dataclass(frozen=True)
class Deprecated:
    """A field that must not be set at all; ``reason`` says what to use instead."""

    reason: str


Node: TypeAlias = "Mapping[str, Node] | _Marker | MapOf | Deprecated"


def _join(path: tuple[str, ...]) -> str:
    return ".".join(path) or "<root>"


def problems(config: Any, schema: Node, path: tuple[str, ...] = ()) -> list[str]:
    """Every key of ``config`` the schema does not accept, as ``"a.b.c: why"`` lines.

    An empty list means every key exists in the schema and no deprecated field is set.
    Values are not type-checked beyond "a mapping where a struct or map is expected" and
    "no mapping where a scalar is expected".
    """
    if schema is ANY:
        return []
    if isinstance(schema, Deprecated):
        return [f"{_join(path)}: deprecated, must not be set ({schema.reason})"]
    if schema is LEAF:
        if isinstance(config, Mapping):
            return [f"{_join(path)}: expected a value, found a mapping"]
        return []
    if config is None:
        # An empty YAML block (`batch:`) decodes to the struct's defaults.
        return []
    if not isinstance(config, Mapping):
        return [f"{_join(path)}: expected a mapping, found {type(config).__name__}"]
    found: list[str] = []
    if isinstance(schema, MapOf):
        for key, value in config.items():
            found += problems(value, schema.value, (*path, str(key)))
        return found
    assert isinstance(schema, Mapping)
    for key, value in config.items():
        child = schema.get(str(key))
        if child is None:
            known = ", ".join(sorted(schema))
            found.append(f"{_join((*path, str(key)))}: unknown key (known here: {known})")
            continue
        found += problems(value, child, (*path, str(key)))
    return found
