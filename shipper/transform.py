"""Kafka message → Elasticsearch document, or a dead letter with a reason (pure, no I/O).

One call of :meth:`Transformer.transform` decides everything about one message:

* the value must be a UTF-8 JSON object of at most ``max_message_bytes``, at most
  ``max_depth`` levels deep with at most ``max_fields`` leaf fields; anything else is a
  :class:`DeadLetter` whose ``kind`` says why;
* dotted keys (``"trace.id"``) and nested objects are both accepted and stored nested;
  the same field given twice with different values is a dead letter (``conflicting_keys``);
* ``trace.id`` becomes 32 and ``span.id`` 16 lower-case hex digits (the rules of
  :mod:`tracelink.ids`); all-zero or empty IDs are removed; IDs that are not hex are moved to
  ``tracelink.invalid.*`` and flagged, so they never join anything; a record without a
  usable trace context takes it from the message's W3C ``traceparent`` header;
* ``@timestamp`` must be RFC 3339 with an offset, ASCII digits, 1970–2261
  (:mod:`tracelink.times`); otherwise the Kafka message timestamp is used
  (``tracelink.timestamp_source = "kafka"``), or the ingest time when that is absent or out
  of range too, and the original value is kept in ``tracelink.timestamp_original``; the daily
  index is the UTC date of ``@timestamp``; a date further than
  ``timestamp_max_distance_days`` from the ingest date is flagged ``timestamp_out_of_range``;
* string values longer than ``max_field_bytes`` are cut (UTF-8 safe) and flagged
  ``truncated``;
* ``event.ingested``, the Kafka origin and ``tracelink.digest`` (of the value) are added; the
  document ``_id`` is ``event.id`` when it is a string of 1–512 bytes, else
  :func:`fallback_id` (unique to the record, stable across its replays), stored as
  ``event.id`` too (other types are flagged ``invalid_event_id``);
* a producer's own ``tracelink`` value is moved to ``extra.tracelink`` and flagged
  ``reserved_field_moved``;
* :meth:`Transformer.transform` never raises: anything unforeseen is a ``transform_error``
  dead letter of that one record.

The ``tracelink`` object of a document is reserved for this metadata.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol, cast

import orjson

from tracelink.ids import (
    CANONICAL_SPAN_ID,
    CANONICAL_TRACE_ID,
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    is_null_id,
    normalize_span_id,
    normalize_trace_id,
    parse_traceparent,
)
from tracelink.times import (
    format_rfc3339_us,
    is_canonical_utc,
    kafka_millis_to_us,
    normalize_rfc3339,
)

__all__ = [
    "DeadLetter",
    "IndexAction",
    "Limits",
    "Message",
    "Transformer",
    "format_timestamp",
]

# Why a message became a dead letter (the DLQ's ``error.type`` for transform rejections).
EMPTY: Final = "empty"
TOO_LARGE: Final = "too_large"
NOT_UTF8: Final = "not_utf8"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
TOO_DEEP: Final = "too_deep"
TOO_MANY_FIELDS: Final = "too_many_fields"
CONFLICTING_KEYS: Final = "conflicting_keys"
# Anything unforeseen while transforming one record: that record, not the pipeline, pays.
TRANSFORM_ERROR: Final = "transform_error"

# Flags in ``tracelink.flags``: what the shipper changed on the way in.
FLAG_TRUNCATED: Final = "truncated"
FLAG_INVALID_EVENT_ID: Final = "invalid_event_id"
FLAG_CONTEXT_FROM_HEADER: Final = "trace_context_from_header"
FLAG_TIMESTAMP_OUT_OF_RANGE: Final = "timestamp_out_of_range"
FLAG_EVENT_ID_CONFLICT: Final = "event_id_conflict"
FLAG_RESERVED_MOVED: Final = "reserved_field_moved"

# Elasticsearch limits an ``_id`` to 512 bytes.
_MAX_ID_BYTES: Final = 512
_TRACE_MATCH: Final = CANONICAL_TRACE_ID.fullmatch
_SPAN_MATCH: Final = CANONICAL_SPAN_ID.fullmatch
_NO_TRACE: Final = "0" * TRACE_ID_HEX
_NO_SPAN: Final = "0" * SPAN_ID_HEX
# Where a producer's own ``tracelink`` value goes: the key is reserved for the shipper.
_MOVED_KEY: Final = "extra"


class Message(Protocol):
    """What the transform reads of a Kafka message (``aiokafka``'s ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...  # a sequence of (str, bytes)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one message (see :class:`~shipper.settings.ShipperSettings`)."""

    max_message_bytes: int = 1024 * 1024
    max_field_bytes: int = 32 * 1024
    max_fields: int = 1000
    max_depth: int = 16
    # A record whose @timestamp date is further than this from the ingest date is flagged.
    timestamp_max_distance_days: int = 7


@dataclass(slots=True)
class IndexAction:
    """A bulk ``create`` of ``source`` into ``index`` with ``_id = doc_id``.

    ``flags`` repeats ``tracelink.flags`` of the document (what the shipper repaired).
    """

    index: str
    doc_id: str
    source: dict[str, Any]
    message: Message
    flags: list[str] | None = None


@dataclass(slots=True)
class DeadLetter:
    """A message that cannot be indexed: ``kind`` is a short code, ``reason`` for humans.

    For one record of a multi-record payload (OTLP), ``record`` is its index in the message
    and ``payload`` that record alone (OTLP/JSON), which the dead-letter queue keeps instead
    of the whole message value.
    """

    kind: str
    reason: str
    message: Message
    record: int | None = None
    payload: bytes | None = None


class _RejectedError(Exception):
    """Internal: the record breaks a limit; carries the dead-letter kind and reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def format_timestamp(when: datetime) -> str:
    """RFC 3339 UTC with microseconds (the form of ``event.ingested``); ``when`` is aware
    and within :data:`tracelink.times.MIN_EPOCH_US`–``MAX_EPOCH_US``."""
    return format_rfc3339_us((when - _EPOCH) // timedelta(microseconds=1))


def origin_of(message: Message) -> str:
    """``<topic>/<partition>/<offset>``, the ``tracelink.origin`` of a message."""
    return f"{message.topic}/{message.partition}/{message.offset}"


_SPLIT_CACHE: dict[str, list[str]] = {}
_SPLIT_CACHE_SIZE: Final = 4096


def _split_key(key: str) -> list[str]:
    """``"a.b.c"`` → ``["a", "b", "c"]``, memoised: producers repeat the same few keys."""
    parts = _SPLIT_CACHE.get(key)
    if parts is None:
        if len(_SPLIT_CACHE) >= _SPLIT_CACHE_SIZE:
            _SPLIT_CACHE.clear()  # bounded: a producer inventing keys cannot grow it
        parts = _SPLIT_CACHE[key] = key.split(".")
    return parts


class _Walk:
    """One record's normalisation: dotted keys nested, depth, field count and size bounded.

    ``check_leaves`` is off for messages too small to break the string or field-count limits
    (every leaf needs at least four bytes of JSON); the hot path then only nests and checks
    depth.
    """

    __slots__ = (
        "check_leaves",
        "fields",
        "max_depth",
        "max_field_bytes",
        "max_fields",
        "truncated",
    )

    def __init__(self, limits: Limits, *, check_leaves: bool) -> None:
        self.check_leaves = check_leaves
        self.fields = 0
        self.truncated = False
        self.max_fields = limits.max_fields
        self.max_depth = limits.max_depth
        self.max_field_bytes = limits.max_field_bytes

    def too_deep(self) -> _RejectedError:
        return _RejectedError(TOO_DEEP, f"nested deeper than {self.max_depth} levels")

    def nest(self, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        """``obj`` (at ``depth``) with dotted keys expanded into objects, within the limits."""
        if depth > self.max_depth:
            raise self.too_deep()
        out: dict[str, Any] = {}
        for key, raw in obj.items():
            if "." in key:
                parts = _split_key(key)
                leaf_depth = depth + len(parts) - 1
                if leaf_depth > self.max_depth:
                    raise self.too_deep()
                self.insert(out, parts, self.child(raw, leaf_depth))
            elif key in out:
                out[key] = self.merge(out[key], self.child(raw, depth), key)
            else:
                out[key] = self.child(raw, depth)
        return out

    def child(self, value: Any, depth: int) -> Any:
        """A value at ``depth``, walked and bounded."""
        kind = type(value)
        if kind is dict:
            return self.nest(value, depth + 1)
        if self.check_leaves:
            return self.leaf(value, kind, depth)
        if kind is list:
            return self.items(value, depth)
        return value

    def leaf(self, value: Any, kind: type, depth: int) -> Any:
        self.fields += 1
        if self.fields > self.max_fields:
            raise _RejectedError(TOO_MANY_FIELDS, f"more than {self.max_fields} fields")
        if kind is str:
            return self.bound(value)
        if kind is list:
            return self.items(value, depth)
        return value

    def items(self, values: list[Any], depth: int) -> list[Any]:
        # An array is one field; objects inside it are walked like any object.
        out: list[Any] = []
        for item in values:
            kind = type(item)
            if kind is dict:
                out.append(self.nest(item, depth + 1))
            elif kind is list:
                if depth + 1 > self.max_depth:
                    raise self.too_deep()
                out.append(self.items(item, depth + 1))
            elif kind is str and self.check_leaves:
                out.append(self.bound(item))
            else:
                out.append(item)
        return out

    def bound(self, text: str) -> str:
        limit = self.max_field_bytes
        if len(text) * 4 <= limit:  # cannot exceed the limit even as 4-byte UTF-8
            return text
        encoded = text.encode("utf-8", "surrogatepass")
        if len(encoded) <= limit:
            return text
        self.truncated = True
        return encoded[:limit].decode("utf-8", "ignore")

    def insert(self, out: dict[str, Any], parts: list[str], value: Any) -> None:
        node = out
        for i in range(len(parts) - 1):
            part = parts[i]
            child = node.get(part)
            if type(child) is not dict:
                if child is not None or part in node:
                    path = ".".join(parts[: i + 1])
                    raise _RejectedError(
                        CONFLICTING_KEYS, f"{path!r} is both a value and an object"
                    )
                child = node[part] = {}
            node = child
        last = parts[-1]
        if last in node:
            node[last] = self.merge(node[last], value, ".".join(parts))
        else:
            node[last] = value

    def merge(self, old: Any, new: Any, path: str) -> Any:
        """The same field given twice (dotted and nested): equal values or objects merge."""
        if type(old) is dict and type(new) is dict:
            for key, value in new.items():
                old[key] = self.merge(old[key], value, f"{path}.{key}") if key in old else value
            return old
        if old == new:
            return old
        if type(old) is dict or type(new) is dict:
            raise _RejectedError(CONFLICTING_KEYS, f"{path!r} is both a value and an object")
        raise _RejectedError(CONFLICTING_KEYS, f"{path!r} is given twice with different values")


# Shapes with more keys than this are walked: a plan pays off for the usual log record.
_PLAN_MAX_KEYS: Final = 64
# Keys whose values the express path checks in place (see _Plan).
_EXPRESS_KEYS: Final = ("@timestamp", "trace.id", "span.id", "event.id")


class _Plan:
    """How to nest one record shape (its keys and value types) in a single C-level step.

    Producers emit the same keys in the same order, record after record, and walking them
    key by key costs several times the JSON parse itself. The second time a shape is seen it
    gets a plan: one compiled dict display that builds the whole nested document from the
    record's values, e.g. ``lambda v, k: {k[0]: v[0], k[1]: {k[2]: v[1], k[3]: v[2]}}`` for
    ``{"@timestamp", "log.level", "log.logger"}``. The generated source holds only integer
    positions: key names are passed in as data, so no input ever becomes code. Values that
    are objects or arrays are walked first. Shapes with conflicting, empty or too deep keys
    get no plan: the walk reports them.

    Shapes with top-level ``@timestamp``, ``trace.id``, ``span.id`` and ``event.id`` strings
    (what logging_ext writes) also get an *express* builder that adds ``event.ingested`` and
    the ``tracelink`` metadata in the same step; it is used when those four values are
    already canonical, which the transform checks in place.
    """

    __slots__ = ("build", "containers", "express", "express_positions", "names")

    def __init__(
        self,
        build: Callable[[list[Any], tuple[str, ...]], dict[str, Any]],
        names: tuple[str, ...],
        containers: tuple[tuple[int, int], ...],
        express: Callable[[list[Any], tuple[str, ...]], dict[str, Any]] | None,
        express_positions: tuple[int, ...],
    ) -> None:
        self.build = build
        self.names = names
        self.containers = containers
        self.express = express
        self.express_positions = express_positions

    @classmethod
    def make(cls, keys: tuple[str, ...], types: tuple[type, ...], max_depth: int) -> _Plan | None:
        tree: dict[str, Any] = {}
        depths: list[int] = []
        for index, key in enumerate(keys):
            parts = _split_key(key)
            if len(parts) > max_depth or "" in parts:
                return None
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if type(node) is not dict:
                    return None
            if parts[-1] in node:
                return None
            node[parts[-1]] = index
            depths.append(len(parts))
        names: dict[str, int] = {}

        def display(node: dict[str, Any]) -> str:
            items = []
            for name, child in node.items():
                position = names.setdefault(name, len(names))
                value = f"v[{child}]" if type(child) is int else display(child)
                items.append(f"k[{position}]:{value}")
            return "{" + ",".join(items) + "}"

        build = _compile(display(tree))
        containers = tuple(
            (index, depths[index]) for index, kind in enumerate(types) if kind in (dict, list)
        )
        express = None
        positions: tuple[int, ...] = ()
        if (
            all(key in keys and types[keys.index(key)] is str for key in _EXPRESS_KEYS)
            and "tracelink" not in tree
            and "ingested" not in tree["event"]
        ):
            positions = tuple(keys.index(key) for key in _EXPRESS_KEYS)
            # Two more values follow the record's: event.ingested and the tracelink object.
            tree["event"]["ingested"] = len(keys)
            tree["tracelink"] = len(keys) + 1
            express = _compile(display(tree))
        return cls(build, tuple(names), containers, express, positions)

    def walk_containers(self, values: list[Any], walk: _Walk) -> None:
        for index, depth in self.containers:
            value = values[index]
            if type(value) is dict:
                values[index] = walk.nest(value, depth + 1)
            else:
                values[index] = walk.items(value, depth)


def _compile(display: str) -> Callable[[list[Any], tuple[str, ...]], dict[str, Any]]:
    source = "lambda v, k: " + display
    # Safe by construction: ``source`` holds only integers, brackets and the names v, k.
    code = compile(source, "<tracelink record plan>", "eval")
    return cast(
        "Callable[[list[Any], tuple[str, ...]], dict[str, Any]]",
        eval(code, {"__builtins__": {}}),  # noqa: S307
    )


_Shape = tuple[tuple[str, ...], tuple[type, ...]]
_PLANS: dict[_Shape, _Plan | None] = {}
_SEEN_ONCE: set[_Shape] = set()
_PLANS_SIZE: Final = 1024


def _plan_for(record: dict[str, Any], values: list[Any], max_depth: int) -> _Plan | None:
    """The plan for the record's shape; ``None`` for one-off or unplannable shapes."""
    shape = (tuple(record), tuple(map(type, values)))
    plan = _PLANS.get(shape)
    if plan is not None:
        return plan
    if shape in _PLANS:
        return None  # unplannable: the walk reports why
    if shape not in _SEEN_ONCE:
        # A one-off shape is not worth compiling; the second sighting is.
        if len(_SEEN_ONCE) >= _PLANS_SIZE:
            _SEEN_ONCE.clear()  # bounded: a producer inventing keys cannot grow it
        _SEEN_ONCE.add(shape)
        return None
    if len(_PLANS) >= _PLANS_SIZE:
        _PLANS.clear()
    plan = _PLANS[shape] = _Plan.make(shape[0], shape[1], max_depth)
    return plan


def _kafka_stamp(message: Message) -> str | None:
    """The Kafka record time as ``@timestamp`` text (ms precision); ``None`` if unusable."""
    micros = kafka_millis_to_us(message.timestamp)
    if micros is None:
        return None
    return format_rfc3339_us(micros)[:-4] + "Z"


_digest: Final = zlib.crc32


def content_digest(message: Message) -> int:
    """``tracelink.digest``: the CRC-32 of the message value, the same for every copy of it.

    A replay (the same record read again, or a producer's retry) has the same bytes; a
    different record that reuses an ``event.id`` almost surely has not. A CRC is enough: it
    only has to tell apart records that already share an ``event.id`` (a collision, one in
    four billion, makes a conflict count as a replay, as every conflict did before), and it
    runs for every record, where a cryptographic hash would cost several percent of the
    shipper's throughput.
    """
    return _digest(message.value or b"")


def fallback_id(message: Message) -> str:
    """The ``_id`` of a record without a usable ``event.id`` (and of a dead letter).

    ``<topic>-<partition>-<offset>-<digest>``, the digest covering the value, the key and the
    Kafka timestamp: a replay of the message meets its own document (409), while a
    different record at the same offset — the topic was re-created, a broker lost its log —
    gets an ``_id`` of its own instead of being taken for a duplicate.
    """
    hasher = hashlib.blake2b(digest_size=12)
    key = message.key or b""
    value = message.value or b""
    # Length-prefixed, so that no two (key, value, timestamp) triples hash the same input.
    hasher.update(b"%d:%d:%d:" % (len(key), len(value), message.timestamp or -1))
    hasher.update(key)
    hasher.update(value)
    return f"{message.topic}-{message.partition}-{message.offset}-{hasher.hexdigest()}"


def _normalize_id(value: Any, width: int) -> tuple[str | None, str | None]:
    """An ID value → ``(normalised, invalid)``; both ``None`` means "remove silently".

    The rules are :mod:`tracelink.ids`'; this only sorts the failures. Raises ``TypeError``
    for an object, which is left in place for the index mapping to reject (a dead letter):
    there is no faithful way to keep it as an ID.
    """
    kind = type(value)
    if kind is str:
        if is_null_id(value):
            return None, None
        normalize = normalize_trace_id if width == TRACE_ID_HEX else normalize_span_id
        usable = normalize(value)
        return (usable, None) if usable is not None else (None, value)
    if value is None:
        return None, None
    if kind is dict:
        raise TypeError
    # Numbers, booleans, arrays: no producer documents these as ID forms. Keep them
    # visible as text, never joinable.
    return None, orjson.dumps(value).decode()


def _date_window(ingested: str, days: int) -> tuple[str, str]:
    """The UTC dates (``YYYY-MM-DD``) at most ``days`` from the ingest date, as bounds."""
    today = date.fromisoformat(ingested[:10])
    span = timedelta(days=min(days, 3_000_000))  # beyond that every date is within reach
    try:
        low = today - span
    except OverflowError:
        low = date.min
    try:
        high = today + span
    except OverflowError:
        high = date.max
    return low.isoformat(), high.isoformat()


class Transformer:
    """Turns Kafka messages into index actions or dead letters, per the module's rules."""

    __slots__ = ("_limits", "_prefix", "_small_limit", "_small_walk", "_window")

    def __init__(self, log_index_prefix: str, limits: Limits | None = None) -> None:
        self._prefix = log_index_prefix + "-"
        self._limits = limits = limits or Limits()
        # Every leaf takes at least four bytes of JSON ("":0,), and no string is longer than
        # the message: messages up to this size cannot break the leaf limits, so their walk
        # skips those checks and keeps no state (one walker serves them all).
        self._small_limit = min(limits.max_field_bytes, 4 * limits.max_fields)
        self._small_walk = _Walk(limits, check_leaves=False)
        # (ingest date, lowest, highest): dates of @timestamp that are not flagged.
        self._window = ("", "", "")

    @property
    def limits(self) -> Limits:
        return self._limits

    def transform(self, message: Message, ingested: str) -> IndexAction | DeadLetter:
        """Decide what happens to ``message``; ``ingested`` is ``event.ingested`` (RFC 3339).

        Never raises: an error nobody foresaw while transforming this one record makes it a
        dead letter (``transform_error``, with the exception's text), so it costs that
        record, never the pipeline — the next replica would only meet it again.
        """
        try:
            return self._transform(message, ingested)
        except Exception as exc:  # noqa: BLE001 - the isolation boundary of one record
            return DeadLetter(TRANSFORM_ERROR, f"{exc.__class__.__name__}: {exc}", message)

    def _transform(self, message: Message, ingested: str) -> IndexAction | DeadLetter:
        record = self._decode(message)
        if type(record) is not dict:
            return record  # type: ignore[return-value]  # a DeadLetter
        return self._transform_record(record, len(message.value), message, ingested)  # type: ignore[arg-type]

    def transform_record(
        self, record: dict[str, Any], size: int, message: Message, ingested: str
    ) -> IndexAction | DeadLetter:
        """:meth:`transform` for a record already parsed (a decoded format's record; never
        raises either): ``record`` is fresh JSON data (the transform may take its containers
        apart), ``size`` its length as JSON in bytes, ``message.value`` those bytes."""
        try:
            return self._transform_record(record, size, message, ingested)
        except Exception as exc:  # noqa: BLE001 - the isolation boundary of one record
            return DeadLetter(TRANSFORM_ERROR, f"{exc.__class__.__name__}: {exc}", message)

    def plan(self, record: dict[str, Any]) -> object | None:
        """A handle on the plan for ``record``'s shape, for :meth:`transform_planned`;
        ``None`` when the shape gets none (yet: shapes are planned on their second sighting).
        """
        if len(record) > _PLAN_MAX_KEYS:
            return None
        return _plan_for(record, list(record.values()), self._limits.max_depth)

    def transform_planned(  # noqa: PLR0917 - the hot path's call, positional
        self,
        plan: object,
        record: dict[str, Any],
        size: int,
        message: Message,
        ingested: str,
        origin: str | None = None,
    ) -> IndexAction | DeadLetter:
        """:meth:`transform_record` for a record of the same keys, in the same order, as the
        one ``plan`` was made for, with no object or array among its values; ``origin``, when
        given, is the ``tracelink.origin`` to write (else ``<topic>/<partition>/<offset>``).

        Why: a decoded payload's records share their shape, and looking the plan up again
        for each (a tuple of the keys and one of the value types, hashed) cost ~1 µs of the
        ~20 µs an OTLP record takes through the shipper. Only the express path is taken
        here; a record it does not fit takes :meth:`transform_record`, which is this
        method's test oracle.
        """
        plan = cast(_Plan, plan)  # a handle from plan(): nothing else is ever passed
        if size <= self._small_limit and plan.express is not None:
            if self._window[0] is not ingested:
                days = self._limits.timestamp_max_distance_days
                self._window = (ingested, *_date_window(ingested, days))
            try:
                action = self._express(
                    plan, list(record.values()), self._small_walk, message, ingested, origin
                )
            except TypeError:
                action = None  # a value of another type than the plan's: the full treatment
            if action is not None:
                return action
        return self.transform_record(record, size, message, ingested)

    def _transform_record(
        self, record: dict[str, Any], size: int, message: Message, ingested: str
    ) -> IndexAction | DeadLetter:
        if self._window[0] is not ingested:
            # One ingest time per batch: the identity check is the common case.
            days = self._limits.timestamp_max_distance_days
            self._window = (ingested, *_date_window(ingested, days))
        small = size <= self._small_limit
        walk = self._small_walk if small else _Walk(self._limits, check_leaves=True)
        try:
            plan = None
            if small and len(record) <= _PLAN_MAX_KEYS:
                values = list(record.values())
                plan = _plan_for(record, values, walk.max_depth)
            if plan is None:
                doc = walk.nest(record, 1)
            elif plan.express is not None and (
                action := self._express(plan, values, walk, message, ingested)
            ):
                return action
            else:
                plan.walk_containers(values, walk)
                doc = plan.build(values, plan.names)
        except _RejectedError as exc:
            return DeadLetter(exc.kind, exc.reason, message)
        except RecursionError:
            return DeadLetter(TOO_DEEP, f"nested deeper than {walk.max_depth} levels", message)
        return self._finish(doc, walk, message, ingested)

    def _express(  # noqa: PLR0917 - a private step of the hot path
        self,
        plan: _Plan,
        values: list[Any],
        walk: _Walk,
        message: Message,
        ingested: str,
        origin: str | None = None,
    ) -> IndexAction | None:
        """The usual record in one step, or ``None`` when a value needs the full treatment."""
        timestamp_at, trace_at, span_at, event_at = plan.express_positions
        timestamp = values[timestamp_at]
        event_id = values[event_at]
        _, low, high = self._window
        trace_id = values[trace_at]
        span_id = values[span_at]
        # tracelink.ids' canonical forms, inlined: this runs for nearly every record.
        if not (
            _TRACE_MATCH(trace_id)
            and trace_id != _NO_TRACE
            and _SPAN_MATCH(span_id)
            and span_id != _NO_SPAN
            and 0 < len(event_id) <= _MAX_ID_BYTES // 4
            and is_canonical_utc(timestamp)
            and low <= timestamp[:10] <= high
        ):
            return None
        if plan.containers:
            plan.walk_containers(values, walk)
        values.append(ingested)
        values.append(
            {
                "origin": origin or f"{message.topic}/{message.partition}/{message.offset}",
                "timestamp_source": "record",
                "digest": _digest(message.value),  # type: ignore[arg-type]
            }
        )
        doc = plan.express(values, plan.names)  # type: ignore[misc]
        return IndexAction(self._prefix + timestamp[:10], event_id, doc, message)

    def _decode(self, message: Message) -> dict[str, Any] | DeadLetter:
        """The message value as a JSON object, or the dead letter saying why it is none."""
        value = message.value
        if not value:
            return DeadLetter(EMPTY, "empty message value", message)
        limit = self._limits.max_message_bytes
        if len(value) > limit:
            return DeadLetter(
                TOO_LARGE,
                f"message of {len(value)} bytes exceeds the limit of {limit} bytes",
                message,
            )
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as bad:
                reason = f"not UTF-8: {bad.reason} at byte {bad.start}"
                return DeadLetter(NOT_UTF8, reason, message)
            return DeadLetter(NOT_JSON, f"not JSON: {exc}", message)
        if type(record) is not dict:
            return DeadLetter(NOT_OBJECT, f"JSON {_json_kind(record)}, not an object", message)
        return cast(dict[str, Any], record)

    def _finish(
        self, doc: dict[str, Any], walk: _Walk, message: Message, ingested: str
    ) -> IndexAction:
        """The full treatment, for every record the express path does not take."""
        flags: list[str] = [FLAG_TRUNCATED] if walk.truncated else []
        meta: dict[str, Any] = {"origin": origin_of(message)}
        if "tracelink" in doc:
            _move_reserved(doc, meta, flags)
        invalid: dict[str, str] = {}
        trace_id = _fix_id(doc, "trace", TRACE_ID_HEX, invalid, flags)
        span_id = _fix_id(doc, "span", SPAN_ID_HEX, invalid, flags)
        if trace_id is None:
            _context_from_header(doc, span_id is None, message, flags)
        stamp = doc.get("@timestamp")
        parsed = normalize_rfc3339(stamp) if type(stamp) is str else None
        if parsed is not None:
            doc["@timestamp"] = parsed
            meta["timestamp_source"] = "record"
        else:
            parsed = _timestamp_from_kafka(doc, message, ingested, meta)
        day = parsed[:10]
        _, low, high = self._window
        if not low <= day <= high:
            flags.append(FLAG_TIMESTAMP_OUT_OF_RANGE)
        meta["digest"] = content_digest(message)
        doc_id = _identity(doc, message, ingested, flags, invalid)
        if invalid:
            meta["invalid"] = invalid
        if flags:
            meta["flags"] = flags
        doc["tracelink"] = meta
        return IndexAction(self._prefix + day, doc_id, doc, message, flags or None)


def _move_reserved(doc: dict[str, Any], meta: dict[str, Any], flags: list[str]) -> None:
    """A producer's own ``tracelink`` value goes to ``extra.tracelink`` (flagged): only the
    shipper writes ``tracelink.*``, so a reader can trust ``tracelink.flags`` and the rest.
    When ``extra`` is taken by something else the value is kept as JSON text in
    ``tracelink.forged``."""
    forged = doc.pop("tracelink")
    extra = doc.get(_MOVED_KEY)
    if extra is None:
        doc[_MOVED_KEY] = {"tracelink": forged}
    elif type(extra) is dict and "tracelink" not in extra:
        extra["tracelink"] = forged
    else:
        meta["forged"] = orjson.dumps(forged, default=repr).decode()
    flags.append(FLAG_RESERVED_MOVED)


def _identity(
    doc: dict[str, Any],
    message: Message,
    ingested: str,
    flags: list[str],
    invalid: dict[str, str],
) -> str:
    """The document ``_id``; sets ``event.ingested``, and ``event.id`` when it had none.

    ``event.id`` must be a string of 1–512 bytes (Elasticsearch's ``_id`` limit). A record
    without one, or with another type (flagged ``invalid_event_id``, the original kept as
    text in ``tracelink.invalid.event_id``), gets :func:`fallback_id` as both ``_id`` and
    ``event.id``: the API pages a trace's logs sorted on (``@timestamp``, ``event.id``), which
    is a total order only when every document has a unique ``event.id``.
    """
    event = doc.get("event")
    if event is None:
        event = doc["event"] = {}
    if type(event) is not dict:
        return fallback_id(message)  # the index mapping rejects a non-object event
    event["ingested"] = ingested
    event_id = event.get("id")
    if type(event_id) is str and 0 < len(event_id.encode()) <= _MAX_ID_BYTES:
        return event_id
    if event_id is not None:
        flags.append(FLAG_INVALID_EVENT_ID)
        invalid["event_id"] = (
            event_id if type(event_id) is str else orjson.dumps(event_id, default=repr).decode()
        )[:_MAX_ID_BYTES]
    derived = event["id"] = fallback_id(message)
    return derived


def conflict_action(action: IndexAction, derived: str | None = None) -> IndexAction:
    """``action`` again under ``derived`` (default: its :func:`fallback_id`), flagged
    ``event_id_conflict``: its ``event.id`` belongs to a different record already indexed
    (the producer reused it). The original ``event.id`` stays in
    ``tracelink.event_id_original``."""
    message = action.message
    doc = action.source
    if derived is None:
        derived = fallback_id(message)
    event = doc.get("event")
    meta = doc.get("tracelink")
    if type(event) is dict:
        event["id"] = derived
    if type(meta) is dict:
        meta["event_id_original"] = action.doc_id
        meta["flags"] = flags = [*meta.get("flags", ()), FLAG_EVENT_ID_CONFLICT]
    else:
        flags = [FLAG_EVENT_ID_CONFLICT]
    return IndexAction(action.index, derived, doc, message, flags)


def _fix_id(
    doc: dict[str, Any], name: str, width: int, invalid: dict[str, str], flags: list[str]
) -> str | None:
    """Normalise ``doc[name]["id"]`` in place; returns the usable ID or ``None``.

    An unusable ID is removed (with its object, when nothing else is left in it); when it
    carried information it is kept in ``invalid`` and flagged ``invalid_<name>_id``.
    """
    container = doc.get(name)
    if type(container) is not dict or "id" not in container:
        return None
    try:
        usable, bad = _normalize_id(container["id"], width)
    except TypeError:
        return None  # an object where an ID belongs: the index mapping rejects the record
    if usable is not None:
        container["id"] = usable
        return usable
    del container["id"]
    if not container:
        del doc[name]
    if bad is not None:
        invalid[f"{name}_id"] = bad
        flags.append(f"invalid_{name}_id")
    return None


def _context_from_header(
    doc: dict[str, Any], need_span: bool, message: Message, flags: list[str]
) -> None:
    """Fill ``trace.id`` (and ``span.id``, ``trace.sampled``) from a ``traceparent`` header."""
    header = _traceparent(message)
    if header is None:
        return
    trace = doc.get("trace")
    if trace is None:
        trace = doc["trace"] = {}
    # An object left under trace.id is evidence for the dead letter: keep it.
    if type(trace) is not dict or "id" in trace:
        return
    trace["id"], span_id, sampled = header
    trace.setdefault("sampled", sampled)
    if need_span:
        span = doc.get("span")
        if span is None:
            span = doc["span"] = {}
        if type(span) is dict and "id" not in span:
            span["id"] = span_id
    flags.append(FLAG_CONTEXT_FROM_HEADER)


def _timestamp_from_kafka(
    doc: dict[str, Any], message: Message, ingested: str, meta: dict[str, Any]
) -> str:
    """Stamp a record whose ``@timestamp`` is missing or unusable; returns the stamp."""
    if "@timestamp" in doc:
        original = doc["@timestamp"]
        meta["timestamp_original"] = (
            original if type(original) is str else orjson.dumps(original, default=repr).decode()
        )
    stamp = _kafka_stamp(message)
    if stamp is not None:
        meta["timestamp_source"] = "kafka"
    else:
        stamp = ingested
        meta["timestamp_source"] = "ingest"
    doc["@timestamp"] = stamp
    return stamp


def _traceparent(message: Message) -> tuple[str, str, bool] | None:
    headers = message.headers
    if not headers:
        return None
    for key, value in headers:
        if key == "traceparent" and value:
            return parse_traceparent(value)
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
