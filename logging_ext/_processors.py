"""The structlog processors of the shared chain (everything before the renderer).

Each is a plain ``(logger, method_name, event_dict) -> event_dict`` callable, or a small class
configured in ``__init__``. The same chain serves structlog events and, through
:class:`~logging_ext.ECSFormatter`'s ``foreign_pre_chain``, stdlib records — which arrive as
an event dict holding the record under ``_record``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import structlog.contextvars
from structlog.typing import EventDict, WrappedLogger

from logging_ext import _trace
from logging_ext._fields import CONFLICT_PREFIX, SAMPLED, SPAN_ID, TRACE_ID
from logging_ext._trace import TraceStamp, current_trace, record_trace

__all__ = ["DEFAULT_REDACT_KEYS", "RedactSecrets", "add_trace_context", "merge_contextvars"]

# structlog's registry of bound contextvars (mutated in place, never replaced). While it is
# empty nothing was ever bound, and merging has nothing to add.
_bound_contextvars: dict[str, Any] | None = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
_get_context = _trace._get_context  # fixed when _trace is imported


def merge_contextvars(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog's ``merge_contextvars``, without its scan of the whole ``contextvars``
    context in processes that never bound anything (then it has nothing to add)."""
    if _bound_contextvars is None or _bound_contextvars:
        return structlog.contextvars.merge_contextvars(logger, method_name, event_dict)
    return event_dict


def add_trace_context(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add ``trace.id``, ``span.id`` and ``trace.sampled`` of the current span.

    For a stdlib record (``_record`` in the event dict) the trace is the one the record was
    created in (see :func:`~logging_ext.install_trace_record_factory`), not the one current
    where it is formatted. Outside a valid span the keys are absent. Values the caller put
    under those keys themselves are kept under ``extra.<key>``, never mistaken for the trace.
    """
    record = event_dict.get("_record")
    if record is None:
        # current_trace's first check, inlined: calls cost here (see install_trace_record_factory).
        last = _trace._last
        stamp = last[1] if _get_context() is last[0] else current_trace()
    else:
        stamp = record_trace(record)
    if TRACE_ID in event_dict or SPAN_ID in event_dict or SAMPLED in event_dict:
        move_foreign_trace_keys(event_dict, stamp)
    if stamp is not None:
        event_dict[TRACE_ID], event_dict[SPAN_ID], event_dict[SAMPLED] = stamp
    return event_dict


def move_foreign_trace_keys(
    event_dict: EventDict, stamp: TraceStamp | None, *, drop_equal: bool = False
) -> None:
    """Move trace keys that disagree with ``stamp`` to ``extra.<key>``.

    With ``drop_equal``, keys that agree are removed (the renderer writes them anyway).
    """
    expected = dict(zip((TRACE_ID, SPAN_ID, SAMPLED), stamp, strict=True)) if stamp else {}
    for key in (TRACE_ID, SPAN_ID, SAMPLED):
        if key in event_dict:
            if event_dict[key] != expected.get(key, _ABSENT):
                event_dict[CONFLICT_PREFIX + key] = event_dict.pop(key)
            elif drop_equal:
                del event_dict[key]


_ABSENT: Final = object()
# Values that cannot hold a secret-looking key: skipped without an (ABC) isinstance check.
_VERDICTS_MAX = 4096
_PLAIN, _SECRET, _SKIP = 0, 1, 2
_NEVER_MASKED: Final = frozenset({"event", TRACE_ID, SPAN_ID, SAMPLED})
_SCALARS: Final = frozenset({str, int, float, bool, type(None), bytes})

DEFAULT_REDACT_KEYS: Final = ("password", "passwd", "secret", "token", "authorization", "api_key")
_SEPARATORS = re.compile(r"[\s_\-.]+")


def _normalize(key: str) -> str:
    return _SEPARATORS.sub("", key.lower())


class RedactSecrets:
    """Mask the values of secret-looking keys in a record's structured extras.

    A key is secret when, lower-cased and stripped of ``_``/``-``/``.``/spaces, it contains
    one of ``keys`` (normalised the same way): with the defaults ``password``, ``db_password``,
    ``X-Api-Key``, ``Authorization``, ``refresh_token`` and ``client_secret`` are all masked.
    Nested mappings and lists (``headers={"Authorization": ...}``) are searched too, up to
    ``max_depth`` levels, without modifying the caller's objects. Keys starting with ``_``
    (structlog's bookkeeping) and the message itself are left alone.
    """

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        *,
        replacement: str = "[REDACTED]",
        max_depth: int = 4,
    ) -> None:
        if isinstance(keys, str):
            raise TypeError("keys must be an iterable of key names, not a single string")
        self._needles = tuple(sorted({n for n in map(_normalize, keys) if n}))
        self.replacement = replacement
        self.max_depth = max_depth
        # Both bounded so that unbounded key sets cannot grow them forever.
        self._verdicts: dict[str, bool] = {}  # key -> secret?
        self._kinds: dict[str, int] = {}  # top-level key -> _PLAIN / _SECRET / _SKIP
        self._harmless_keys: set[str] = set()  # top-level keys whose kind is not _SECRET

    @property
    def keys(self) -> tuple[str, ...]:
        """The normalised key fragments that mark a key as secret."""
        return self._needles

    def is_secret(self, key: str) -> bool:
        """Whether values under ``key`` are masked."""
        verdict = self._verdicts.get(key)
        if verdict is None:
            normalized = _normalize(key)
            verdict = any(needle in normalized for needle in self._needles)
            if len(self._verdicts) < _VERDICTS_MAX:
                self._verdicts[key] = verdict
        return verdict

    def __call__(  # noqa: PLR0912 - the usual record's check stays inline: calls cost here
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> EventDict:
        if not self._needles:
            return event_dict
        # The usual record: only keys known not to be secret, only scalar values. The key
        # check runs in C; the values are few, and a plain loop over them is cheaper than
        # building the set that _SCALARS.issuperset(map(type, ...)) makes on Python 3.11.
        if event_dict.keys() <= self._harmless_keys:
            for value in event_dict.values():
                if type(value) not in _SCALARS:
                    break
            else:
                return event_dict
        kinds = self._kinds
        for key, value in event_dict.items():
            kind = kinds.get(key)
            if kind is None:
                kind = self._kind_of(key)
            if kind is _PLAIN:
                kind_of_value = type(value)
                if kind_of_value in _SCALARS:
                    continue
                if (
                    kind_of_value is dict
                    or kind_of_value is list
                    or kind_of_value is tuple
                    or (isinstance(value, Mapping))
                ):
                    try:
                        scrubbed = self._scrub(value, 1)
                    except Exception:  # noqa: BLE001 - an odd container: mask, rather than leak
                        scrubbed = self.replacement
                    if scrubbed is not value:
                        event_dict[key] = scrubbed
            elif kind is _SECRET and value is not None:
                event_dict[key] = self.replacement
        return event_dict

    def _kind_of(self, key: object) -> int:
        if type(key) is not str:
            return _SKIP
        # The message, the trace and structlog's private keys are never masked.
        if key in _NEVER_MASKED or key.startswith("_"):
            kind = _SKIP
        else:
            kind = _SECRET if self.is_secret(key) else _PLAIN
        if len(self._kinds) < _VERDICTS_MAX:
            self._kinds[key] = kind
            if kind is not _SECRET:
                self._harmless_keys.add(key)
        return kind

    def _scrub(self, value: Any, depth: int) -> Any:
        """``value`` with secrets masked: the same object when nothing changed, else a copy."""
        if depth > self.max_depth:
            return value
        if isinstance(value, Mapping):
            changed: dict[Any, Any] | None = None
            for key, item in value.items():
                if isinstance(key, str) and self.is_secret(key) and item is not None:
                    new = self.replacement
                elif isinstance(item, Mapping | list | tuple):
                    new = self._scrub(item, depth + 1)
                else:
                    continue
                if new is not item:
                    if changed is None:
                        changed = dict(value)
                    changed[key] = new
            return value if changed is None else changed
        if isinstance(value, list | tuple):
            items = [
                self._scrub(item, depth + 1) if isinstance(item, Mapping | list | tuple) else item
                for item in value
            ]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return items
        return value
