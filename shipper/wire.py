"""Kafka records read from the wire as bytes, for the one case the consumer cannot decode.

A record header key is a protocol ``String`` and should be UTF-8, but librdkafka and other
clients send whatever bytes they are given. aiokafka decodes header keys strictly while it
hands out records (``aiokafka/record/default_records.py``, ``_read_msg``:
``buffer[pos : pos + h_key_len].decode("utf-8")``), so one such record raises
``UnicodeDecodeError`` out of ``getmany()`` — every time, for every consumer of the partition.

:func:`read_record` fetches the batch holding one offset with a plain Fetch request on a
client of its own and parses it here, keeping header keys as bytes, so that the shipper can
dead-letter that record with its original bytes and go on after it. Only message format v2
(Kafka ≥ 0.11; what every current client writes) carries headers at all; the layout parsed
is the "RecordBatch" section of the Kafka protocol guide.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.protocol.fetch import FetchRequest

__all__ = [
    "DecodedRecord",
    "UndecodableRecord",
    "WireRecord",
    "consumer_records",
    "parse_batches",
    "read_records",
]

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, records count.
_BATCH_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_CODECS: Final = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}
_LOG_APPEND_TIME: Final = 0x08
_CONTROL: Final = 0x20
_FETCH_WAIT_MS: Final = 500


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One record as the broker stored it (header keys as bytes)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...]


@dataclass(slots=True)
class UndecodableRecord:
    """A record the consumer could not hand out; read on the side, to be dead-lettered.

    Has the attributes of a consumed record that the transform and the dead-letter queue
    read. ``headers`` carry keys decoded with ``backslashreplace`` (``b"\\xff"`` becomes the
    text ``\\xff``), so they can be written again; ``reason`` says what was wrong, with the
    original key bytes.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = field(default_factory=tuple)
    reason: str = ""


def _varint(buffer: bytes, pos: int) -> tuple[int, int]:
    """Kafka's zig-zag varint at ``pos`` → (value, next position)."""
    result = shift = 0
    while True:
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _nullable(buffer: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = _varint(buffer, pos)
    if length < 0:
        return None, pos
    return bytes(buffer[pos : pos + length]), pos + length


def parse_batches(data: bytes) -> Iterator[WireRecord]:
    """Every record of the v2 record batches in ``data`` (a Fetch response's record set).

    A batch cut short at the end (brokers may return a partial last batch) ends the
    iteration; control batches (transaction markers) hold no records of the topic.
    """
    pos = 0
    while pos + _BATCH_HEADER.size <= len(data):
        (
            base_offset,
            batch_length,
            _epoch,
            magic,
            _crc,
            attributes,
            _last_delta,
            base_timestamp,
            max_timestamp,
            _producer,
            _producer_epoch,
            _sequence,
            count,
        ) = _BATCH_HEADER.unpack_from(data, pos)
        end = pos + 12 + batch_length
        if end > len(data):
            return
        if magic != 2:
            raise ValueError(f"message format v{magic} carries no headers")
        body = data[pos + _BATCH_HEADER.size : end]
        pos = end
        if attributes & _CONTROL:
            continue
        codec = _CODECS.get(attributes & 0x07)
        if codec is not None:
            body = codec(body)
        at = 0
        for _ in range(count):
            length, at = _varint(body, at)
            next_record = at + length
            at += 1  # record attributes: unused
            timestamp_delta, at = _varint(body, at)
            offset_delta, at = _varint(body, at)
            key, at = _nullable(body, at)
            value, at = _nullable(body, at)
            header_count, at = _varint(body, at)
            headers = []
            for _ in range(header_count):
                header_key, at = _nullable(body, at)
                header_value, at = _nullable(body, at)
                headers.append((header_key or b"", header_value))
            at = next_record
            timestamp = (
                max_timestamp if attributes & _LOG_APPEND_TIME else base_timestamp + timestamp_delta
            )
            yield WireRecord(base_offset + offset_delta, timestamp, key, value, tuple(headers))


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A well-formed record read from the wire: what a consumed record offers the transform.

    Records that share a batch with an undecodable one cannot be handed out by the consumer
    either (it decodes the batch from its start), so they come this way.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def consumer_records(
    tp: TopicPartition, records: list[WireRecord]
) -> list[DecodedRecord | UndecodableRecord]:
    """Wire records as consumed records: an :class:`UndecodableRecord` (the reason naming
    the bad key bytes) where a header key is not UTF-8, a :class:`DecodedRecord` elsewhere."""
    out: list[DecodedRecord | UndecodableRecord] = []
    for record in records:
        bad = []
        headers = []
        for key, value in record.headers:
            try:
                text = key.decode("utf-8")
            except UnicodeDecodeError:
                text = key.decode("utf-8", "backslashreplace")
                bad.append(key)
            headers.append((text, value))
        fields = (tp.topic, tp.partition, record.offset, record.timestamp, record.key)
        if bad:
            reason = "record header key is not UTF-8: " + ", ".join(repr(key) for key in bad)
            out.append(UndecodableRecord(*fields, record.value, tuple(headers), reason))
        else:
            out.append(DecodedRecord(*fields, record.value, tuple(headers)))
    return out


async def read_records(
    client_options: dict[str, Any], tp: TopicPartition, offset: int, max_bytes: int
) -> list[WireRecord]:
    """The records of ``tp`` from ``offset`` on, as far as one Fetch returns them, fetched
    on a client of its own. Empty when the broker has nothing there (any more)."""
    client = AIOKafkaClient(**client_options)
    await client.bootstrap()
    try:
        client.add_topic(tp.topic)
        await client.force_metadata_update()
        leader = client.cluster.leader_for_partition(tp)
        if leader is None or leader == -1:
            return []
        # A broker may answer a Fetch with max_wait 0 before reading its log (the Kafka
        # stand-in answers with no data at all): give it the time a consumer gives it.
        request = FetchRequest(
            _FETCH_WAIT_MS, 1, max_bytes, 0, [(tp.topic, [(tp.partition, offset, max_bytes)])]
        )
        response = await client.send(leader, request)
    finally:
        await client.close()
    for _topic, partitions in response.topics:
        for partition, error_code, _highwater, *rest in partitions:
            if partition != tp.partition or error_code != 0:
                continue
            # A broker returns whole batches: drop the records before ``offset``.
            return [r for r in parse_batches(bytes(rest[-1] or b"")) if r.offset >= offset]
    return []
