"""Record batches parsed from bytes, header keys kept as bytes (see shipper/wire.py)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from shipper.wire import DecodedRecord, UndecodableRecord, consumer_records, parse_batches
from tests.support.kafka_wire import record_batch

TP = TopicPartition("logs", 3)


def test_parses_what_a_hand_built_batch_holds() -> None:
    data = record_batch(
        [(None, b"a", []), (b"k", b"b", [(b"\xff", b"v"), (b"ok", None)]), (b"", None, [])],
        timestamp_ms=1_000,
    )
    records = list(parse_batches(data))
    assert [(r.offset, r.key, r.value, r.headers) for r in records] == [
        (0, None, b"a", ()),
        (1, b"k", b"b", ((b"\xff", b"v"), (b"ok", None))),
        (2, b"", None, ()),
    ]
    assert {r.timestamp for r in records} == {1_000}


@pytest.mark.parametrize("codec", [0, 1])  # none, gzip: aiokafka's own encoder
def test_parses_what_aiokafka_writes(codec: int) -> None:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset in range(5):
        builder.append(offset, 1_700_000_000_000 + offset, None, b"v%d" % offset, [("h", b"x")])
    records = list(parse_batches(bytes(builder.build())))
    assert [r.value for r in records] == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert [r.timestamp for r in records] == [1_700_000_000_000 + i for i in range(5)]
    assert all(r.headers == ((b"h", b"x"),) for r in records)


def test_a_truncated_last_batch_ends_the_records() -> None:
    first = record_batch([(None, b"a", [])])
    assert [r.value for r in parse_batches(first + record_batch([(None, b"b", [])])[:-3])] == [b"a"]


def test_bad_header_keys_make_undecodable_records_and_the_rest_decoded() -> None:
    records = list(parse_batches(record_batch([(None, b"a", [(b"\xfe", b"1")]), (None, b"b", [])])))
    bad, good = consumer_records(TP, records)
    assert isinstance(bad, UndecodableRecord)
    assert bad.headers == (("\\xfe", b"1"),)
    assert "b'\\xfe'" in bad.reason
    assert (bad.topic, bad.partition, bad.offset) == ("logs", 3, 0)
    assert isinstance(good, DecodedRecord)
    assert (good.offset, good.value, good.headers) == (1, b"b", ())
