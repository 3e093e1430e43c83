"""Dead letters: the Kafka dead-letter topic and the searchable dead-letter index.

Contract of :meth:`DeadLetterQueue.write`: it returns only after every letter is
acknowledged by Kafka on the dead-letter topic (``acks=all``) and persisted in — or refused
by — the dead-letter index. Kafka failures are retried forever with backoff, so while the
dead-letter topic cannot be written the shipper commits nothing and drops nothing.

The topic message carries the original value, key and headers, plus ``tracelink-error``
(the reason), ``tracelink-error-type`` and ``tracelink-origin`` (``topic/partition/offset``).
A replay can write a letter to the topic twice (at-least-once); the index holds it once,
under ``_id = <topic>-<partition>-<offset>-<digest>`` (:func:`shipper.transform.fallback_id`:
the digest covers the value, key and Kafka timestamp, so a different message at a reused
offset is a letter of its own). A letter for one record of a multi-record payload (an OTLP
request whose other records were indexed) carries that record alone, as an OTLP/JSON request
the shipper reads again; its origin ends in ``#<index>`` and its ``_id`` in ``-<index>``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from shipper.bulk import create_item
from shipper.metrics import ShipperMetrics
from shipper.retry import Backoff
from shipper.sink import BulkSink
from shipper.transform import DeadLetter, fallback_id, format_timestamp, origin_of
from tracelink.layout import dlq_index
from tracelink.times import kafka_millis_to_us

__all__ = ["DeadLetterQueue", "dead_letter_document", "letter_origin"]

log = logging.getLogger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Header values are for humans and tools; a reason never needs more than this.
_MAX_REASON_BYTES: Final = 4096
# A value the broker refuses as too large is kept this long (its start) on the topic; the
# original stays on the log topic until its retention ends.
_TOPIC_TRUNCATE_BYTES: Final = 512 * 1024


def letter_origin(letter: DeadLetter) -> str:
    """``topic/partition/offset``, with ``#index`` for one record of a multi-record payload."""
    origin = origin_of(letter.message)
    return origin if letter.record is None else f"{origin}#{letter.record}"


def _letter_value(letter: DeadLetter) -> bytes | None:
    """What the letter keeps: the record alone when it is one of many, else the message."""
    return letter.payload if letter.payload is not None else letter.message.value


def _letter_id(letter: DeadLetter) -> str:
    doc_id = fallback_id(letter.message)
    return doc_id if letter.record is None else f"{doc_id}-{letter.record}"


def _letter_time(letter: DeadLetter) -> datetime:
    """The Kafka message time when it is one (see :func:`tracelink.times.kafka_millis_to_us`:
    absent, negative or past 2261 is not), else now. Never raises: a far-future timestamp
    (µs written where ms belong) must not crash the path that exists for bad records."""
    micros = kafka_millis_to_us(letter.message.timestamp)
    if micros is None:
        return datetime.now(UTC)
    return _EPOCH + timedelta(microseconds=micros)


def dead_letter_document(letter: DeadLetter, payload_max_bytes: int) -> dict[str, Any]:
    """The dead-letter index document of ``letter`` (fields of ``tracelink.layout.DLQ_FIELDS``).

    The payload is kept as text (UTF-8, or base64 when it is not UTF-8), cut to
    ``payload_max_bytes``. ``@timestamp`` is the Kafka message time, so a replay writes
    the same document to the same daily index.
    """
    message = letter.message
    raw = _letter_value(letter) or b""
    cut = raw[:payload_max_bytes]
    try:
        payload = cut.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(cut) - 3 and len(raw) > payload_max_bytes:
            # Only the cut split a character: still text.
            payload = cut[: exc.start].decode("utf-8")
            encoding = "utf-8"
        else:
            payload = base64.b64encode(cut).decode("ascii")
            encoding = "base64"
    return {
        "@timestamp": format_timestamp(_letter_time(letter)),
        "error": {"type": letter.kind, "message": letter.reason},
        "tracelink": {
            "origin": letter_origin(letter),
            "kafka": {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
            },
            "payload": payload,
            "payload_bytes": len(raw),
            "payload_encoding": encoding,
            "payload_truncated": len(raw) > payload_max_bytes,
        },
    }


def _header_text(text: str) -> bytes:
    return text.encode("utf-8", "replace")[:_MAX_REASON_BYTES]


class DeadLetterQueue:
    """Writes dead letters to the topic, then to the index (see the module docstring)."""

    def __init__(
        self,
        producer: Any,
        sink: BulkSink,
        *,
        topic: str,
        index_prefix: str,
        payload_max_bytes: int,
        backoff: Callable[[], Backoff],
        metrics: ShipperMetrics,
    ) -> None:
        self._producer = producer  # aiokafka.AIOKafkaProducer, started by the owner
        self._sink = sink
        self._topic = topic
        self._index_prefix = index_prefix
        self._payload_max_bytes = payload_max_bytes
        self._backoff = backoff
        self._metrics = metrics
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """False while the last attempt to write the dead-letter topic failed."""
        return self.last_error is None

    async def write(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        await self._to_topic(letters)
        await self._to_index(letters)
        for letter in letters:
            self._metrics.dead_lettered.labels(letter.kind).inc()
            log.warning(
                "dead letter %s (%s): %s", letter_origin(letter), letter.kind, letter.reason
            )

    def _record(self, letter: DeadLetter, *, shrink: bool) -> tuple[bytes | None, list[Any]]:
        message = letter.message
        headers = [(key, value) for key, value in (message.headers or ())]
        headers += [
            ("tracelink-error", _header_text(letter.reason)),
            ("tracelink-error-type", letter.kind.encode()),
            ("tracelink-origin", letter_origin(letter).encode()),
        ]
        value = _letter_value(letter)
        if value is None and message.key is None:
            value = b""  # Kafka clients refuse a record with neither key nor value
        if shrink and value is not None:
            headers.append(("tracelink-payload-truncated", str(len(value)).encode()))
            value = value[:_TOPIC_TRUNCATE_BYTES]
        return value, headers

    async def _to_topic(self, letters: Sequence[DeadLetter]) -> None:
        pending = list(range(len(letters)))
        shrink: set[int] = set()
        backoff = self._backoff()
        while pending:
            failed: list[int] = []
            must_wait = False
            sent = []
            for position in pending:
                letter = letters[position]
                value, headers = self._record(letter, shrink=position in shrink)
                try:
                    future = await self._producer.send(
                        self._topic, value=value, key=letter.message.key, headers=headers
                    )
                except KafkaError as exc:
                    must_wait |= self._failed(exc, position, shrink)
                    failed.append(position)
                else:
                    sent.append((position, future))
            for position, future in sent:
                try:
                    await future
                except KafkaError as exc:
                    must_wait |= self._failed(exc, position, shrink)
                    failed.append(position)
            if not failed:
                self.last_error = None
                return
            if must_wait:
                delay = backoff.next_delay()
                log.warning(
                    "%d dead letters to retry in %.1fs: %s", len(failed), delay, self.last_error
                )
                await asyncio.sleep(delay)
            pending = failed

    def _failed(self, exc: KafkaError, position: int, shrink: set[int]) -> bool:
        """Note a failed send; returns whether to back off before the next attempt."""
        if isinstance(exc, MessageSizeTooLargeError) and position not in shrink:
            log.warning(
                "dead letter too large for topic %s: writing its first %d bytes",
                self._topic,
                _TOPIC_TRUNCATE_BYTES,
            )
            shrink.add(position)
            return False
        self._metrics.dlq_failures.inc()
        self.last_error = f"dead-letter topic {self._topic}: {exc.__class__.__name__}: {exc}"
        return True

    async def _to_index(self, letters: Sequence[DeadLetter]) -> None:
        items = []
        for letter in letters:
            document = dead_letter_document(letter, self._payload_max_bytes)
            index = dlq_index(self._index_prefix, _letter_time(letter))
            items.append(create_item(index, _letter_id(letter), document))
        result = await self._sink.write(items)
        for rejection in result.rejected:
            # The topic holds the letter; an index that refuses it must not stop the flow.
            log.error(
                "dead-letter index refused %s: %s: %s",
                letter_origin(letters[rejection.position]),
                rejection.error_type,
                rejection.reason,
            )
