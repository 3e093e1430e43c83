"""The one point where formats meet the transform: a Kafka message → index actions and
dead letters (pure, no I/O).

:meth:`FormatDispatcher.process` detects the message's format (:mod:`shipper.formats.detect`),
decodes it into records, and runs every record through the same
:class:`~shipper.transform.Transformer` rules. ECS messages go to the transform exactly as
they are. A decoded record is handed to the transform as a message of its own whose value is
the record's JSON; the action then gets back the original message, the record's flags and,
for multi-record payloads, its index in the origin (``topic/partition/offset#index``).

Every outcome keeps what is needed to dead-letter that record alone should Elasticsearch
refuse it (:func:`refused`): the original message, the record's index and its own bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from shipper.formats import ecs, otel_json, otlp
from shipper.formats._record import ECS, OTEL_JSON, OTLP_JSON, OTLP_PROTO, Origin, Record, Rejected
from shipper.formats.detect import AUTO, detect
from shipper.transform import (
    TOO_LARGE,
    DeadLetter,
    IndexAction,
    Message,
    Transformer,
    fallback_id,
)

__all__ = ["FormatDispatcher", "Processed", "RecordRef", "derived_id", "refused"]

_Decoder = Callable[[bytes, Origin, Any], "list[Record] | Rejected | None"]


def _ecs(value: bytes, origin: Origin, parsed: Any) -> list[Record] | Rejected | None:
    del parsed
    return ecs.decode(value, origin)


def _otlp_proto(value: bytes, origin: Origin, parsed: Any) -> list[Record] | Rejected | None:
    del parsed
    return otlp.decode_proto(value, origin)


_DECODERS: Final[dict[str, _Decoder]] = {
    ECS: _ecs,
    OTEL_JSON: otel_json.decode,
    OTLP_PROTO: _otlp_proto,
    OTLP_JSON: otlp.decode_json,
}


@dataclass(slots=True)
class RecordRef:
    """One record of a multi-record message: how to dead-letter it alone."""

    message: Message
    index: int
    alone: Callable[[], bytes]


@dataclass(slots=True)
class Processed:
    """What became of one message of another format than ECS: its format, and per record an
    action or a dead letter. ``refs[i]`` belongs to ``actions[i]``: the message itself, or a
    :class:`RecordRef`."""

    format: str
    records: int
    actions: list[IndexAction]
    refs: list[Message | RecordRef]
    letters: list[DeadLetter]


_UNPLANNED: Final = object()


class _RecordMessage:
    """A decoded record dressed as the message it came in, for the transform: its value is
    the record's own JSON (the transform's digest and derived ID cover the record, not the
    payload); a multi-record payload's headers are left out (its ``traceparent`` is no one
    record's)."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, original: Message, value: bytes, headers: Any) -> None:
        self.topic = original.topic
        self.partition = original.partition
        self.offset = original.offset
        self.timestamp = original.timestamp
        self.key = original.key
        self.headers = headers
        self.value = value


class FormatDispatcher:
    """Detects, decodes and transforms; ``pinned`` is ``TRACELINK_LOG_FORMAT``."""

    __slots__ = ("_limit", "_pinned", "_transform_record", "_transformer")

    def __init__(self, transformer: Transformer, pinned: str = AUTO) -> None:
        self._transformer = transformer
        self._pinned = pinned
        self._limit = transformer.limits.max_message_bytes
        self._transform_record = transformer.transform_record

    def process(self, message: Message, ingested: str) -> IndexAction | DeadLetter | Processed:
        """The outcome of ``message`` (see the module docstring). An ECS message — the usual
        one — gives the transform's own result (its format is ``ecs``, its one record the
        message); every other format a :class:`Processed`."""
        value = message.value
        fmt, parsed = detect(value, self._pinned)
        if fmt is ECS:
            return self._transformer.transform(message, ingested)
        limit = self._transformer.limits.max_message_bytes
        if not value or len(value) > limit:
            # Too large (or empty): the transform's dead letter says so, before any decoding.
            result = self._transformer.transform(message, ingested)
            assert isinstance(result, DeadLetter)
            return Processed(fmt, 1, [], [], [result])
        decoded = _DECODERS[fmt](
            value, Origin(message.topic, message.partition, message.offset), parsed
        )
        if decoded is None:  # not that format after all: ECS, as it came
            return self._transformer.transform(message, ingested)
        if isinstance(decoded, Rejected):
            return Processed(fmt, 1, [], [], [DeadLetter(decoded.kind, decoded.reason, message)])
        processed = Processed(fmt, len(decoded), [], [], [])
        # One-record formats keep the message's headers (its traceparent is the record's);
        # a multi-record payload's headers say nothing about any one record.
        headers = message.headers if fmt == OTEL_JSON else None
        # One dressed message for all the records, its value set per record: the transform
        # keeps no reference to it (an action gets the original message back, a dead letter
        # is made anew with it), and a payload has hundreds of records.
        dressed = _RecordMessage(message, b"", headers)
        plans: dict[object, object | None] = {}  # per record shape (see Record.shape)
        origin = f"{message.topic}/{message.partition}/{message.offset}#"
        for record in decoded:
            self._record(record, message, dressed, plans, origin, ingested, processed)
        return processed

    def _transform(  # noqa: PLR0917 - a private step of the per-record loop
        self,
        record: Record,
        size: int,
        dressed: _RecordMessage,
        plans: dict[object, object | None],
        ingested: str,
        origin: str | None,
    ) -> IndexAction | DeadLetter:
        """The transform of one record, with its shape's plan when it has one."""
        shape = record.shape
        if shape is not None:
            plan = plans.get(shape, _UNPLANNED)
            if plan is _UNPLANNED:
                plan = plans[shape] = self._transformer.plan(record.fields)
            if plan is not None:
                return self._transformer.transform_planned(
                    plan, record.fields, size, dressed, ingested, origin
                )
        return self._transform_record(record.fields, size, dressed, ingested)

    def _record(  # noqa: PLR0917 - the per-record step of process, kept flat
        self,
        record: Record,
        message: Message,
        dressed: _RecordMessage,
        plans: dict[object, object | None],
        origin: str,
        ingested: str,
        processed: Processed,
    ) -> None:
        # Its JSON: its size decides how the transform bounds it (the dict itself is used as
        # it is), its bytes are what the transform's digest covers.
        value = orjson.dumps(record.fields)
        size = len(value)
        index = record.index
        # The transform's origin, and the record's index in the message.
        record_origin = None if index is None else f"{origin}{index}"
        if size > self._limit:
            result: IndexAction | DeadLetter = DeadLetter(
                TOO_LARGE, f"record of {size} bytes as JSON exceeds the message limit", message
            )
        else:
            dressed.value = value
            result = self._transform(record, size, dressed, plans, ingested, record_origin)
        if type(result) is not IndexAction:
            assert isinstance(result, DeadLetter)
            if index is None or record.alone is None:
                letter = DeadLetter(result.kind, result.reason, message)
            else:
                letter = DeadLetter(
                    result.kind, result.reason, message, record=index, payload=record.alone()
                )
            processed.letters.append(letter)
            return
        result.message = message
        meta = result.source.get("tracelink")
        if type(meta) is dict:
            if record_origin is not None:
                meta["origin"] = record_origin
            if record.invalid:
                invalid = meta.setdefault("invalid", {})
                if type(invalid) is dict:
                    invalid.update(record.invalid)
            if record.flags:
                flags = [*record.flags, *(result.flags or ())]
                meta["flags"] = flags
                result.flags = flags
        processed.actions.append(result)
        if index is None or record.alone is None:
            processed.refs.append(message)
        else:
            processed.refs.append(RecordRef(message, index, record.alone))


def derived_id(ref: Message | RecordRef, memo: dict[int, str] | None = None) -> str:
    """The ``_id`` a record takes when its own belongs to a different record (a conflict):
    the message's :func:`~shipper.transform.fallback_id`, which covers its bytes; for one
    record of a payload, followed by the record's index (``…-<digest>-<index>``). ``memo``
    keeps each message's ID for the next record of the same payload (a hash of the whole
    payload once, not once per record)."""
    message = ref.message if isinstance(ref, RecordRef) else ref
    memo = {} if memo is None else memo
    own = memo.get(id(message))
    if own is None:
        own = memo[id(message)] = fallback_id(message)
    return f"{own}-{ref.index}" if isinstance(ref, RecordRef) else own


def refused(ref: Message | RecordRef, kind: str, reason: str) -> DeadLetter:
    """The dead letter of one record Elasticsearch refused: alone, with its own bytes."""
    if isinstance(ref, RecordRef):
        return DeadLetter(kind, reason, ref.message, record=ref.index, payload=ref.alone())
    return DeadLetter(kind, reason, ref)
