"""Raw Kafka records on the wire, for tests that need bytes a client library refuses to send.

librdkafka and other clients can write a record header whose key is not UTF-8; aiokafka's
producer only takes ``str`` keys. This builds a record batch (message format v2, as in the
Kafka protocol guide's "RecordBatch" section) by hand and sends it with a plain Produce
request, so the broker stores exactly these bytes.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.util import calc_crc32c

__all__ = ["RawRecord", "produce_raw", "record_batch"]

# (key, value, headers with raw key bytes)
RawRecord = tuple[bytes | None, bytes | None, Sequence[tuple[bytes, bytes | None]]]


def _varint(value: int) -> bytes:
    """Kafka's zig-zag varint."""
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = zigzag & 0x7F
        zigzag >>= 7
        if zigzag:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(value: bytes | None) -> bytes:
    return _varint(-1) if value is None else _varint(len(value)) + value


def record_batch(records: Sequence[RawRecord], *, timestamp_ms: int | None = None) -> bytes:
    """One uncompressed v2 record batch holding ``records`` (offsets assigned by the broker)."""
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    body = bytearray()
    for delta, (key, value, headers) in enumerate(records):
        record = bytearray(b"\x00")  # attributes
        record += _varint(0) + _varint(delta) + _bytes(key) + _bytes(value)
        record += _varint(len(headers))
        for header_key, header_value in headers:
            record += _varint(len(header_key)) + header_key + _bytes(header_value)
        body += _varint(len(record)) + record
    # attributes, lastOffsetDelta, baseTimestamp, maxTimestamp, producerId, producerEpoch,
    # baseSequence, record count: what the CRC covers, with the records.
    covered = struct.pack(">hiqqqhii", 0, len(records) - 1, stamp, stamp, -1, -1, -1, len(records))
    covered += body
    crc = calc_crc32c(covered)
    # baseOffset, batchLength (from partitionLeaderEpoch on), partitionLeaderEpoch, magic, crc
    header = struct.pack(">qiibI", 0, 4 + 1 + 4 + len(covered), -1, 2, crc)
    return header + covered


async def produce_raw(
    bootstrap: str,
    topic: str,
    partition: int,
    records: Sequence[RawRecord],
    *,
    timestamp_ms: int | None = None,
) -> None:
    """Write ``records`` as one batch to ``topic``/``partition`` with ``acks=all``."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        client.add_topic(topic)
        await client.force_metadata_update()
        leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        request = ProduceRequest(
            required_acks=-1,
            timeout=10_000,
            topics=[(topic, [(partition, record_batch(records, timestamp_ms=timestamp_ms))])],
            transactional_id=None,
        )
        response = await client.send(leader, request)
        for _topic, partitions in response.topics:
            for result in partitions:
                if result[1] != 0:
                    raise RuntimeError(f"produce failed with error code {result[1]}")
    finally:
        await client.close()
