"""The transform, record by record: what gets indexed, repaired or dead-lettered."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper import transform as transform_module
from shipper.bulk import create_item
from shipper.transform import (
    DeadLetter,
    IndexAction,
    Limits,
    Transformer,
    content_digest,
    fallback_id,
)
from tests.support.shipping import KafkaMessage, leaf_paths
from tracelink.layout import LOG_FIELDS

INGESTED = "2026-11-22T10:30:00.000000Z"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def Message(value: bytes | None, **fields: Any) -> KafkaMessage:  # noqa: N802 - reads as a type
    return KafkaMessage(value, **fields)


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "@timestamp": "2026-11-22T10:23:47.123456Z",
        "log.level": "info",
        "message": "order placed",
        "trace.id": TRACE,
        "span.id": SPAN,
        "event.id": "evt-1",
        "service.name": "orders",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not _DROP}


_DROP = object()


def run(
    value: Any,
    *,
    limits: Limits | None = None,
    raw: bool = False,
    **message: Any,
) -> IndexAction | DeadLetter:
    payload = value if raw else orjson.dumps(value)
    return Transformer("tl-logs", limits).transform(Message(payload, **message), INGESTED)


def indexed(value: Any, **kwargs: Any) -> IndexAction:
    result = run(value, **kwargs)
    assert isinstance(result, IndexAction), result
    return result


def dead(value: Any, **kwargs: Any) -> DeadLetter:
    result = run(value, **kwargs)
    assert isinstance(result, DeadLetter), result
    return result


@pytest.fixture(autouse=True)
def _fresh_plans() -> None:
    # Shapes are planned on their second sighting; tests start from a clean cache.
    transform_module._PLANS.clear()
    transform_module._SEEN_ONCE.clear()


# --- the usual record -------------------------------------------------------------------


def test_dotted_record_becomes_nested_document_with_metadata() -> None:
    action = indexed(record())
    assert action.index == "tl-logs-2026-11-22"
    assert action.doc_id == "evt-1"
    assert action.source == {
        "@timestamp": "2026-11-22T10:23:47.123456Z",
        "log": {"level": "info"},
        "message": "order placed",
        "trace": {"id": TRACE},
        "span": {"id": SPAN},
        "event": {"id": "evt-1", "ingested": INGESTED},
        "service": {"name": "orders"},
        "tracelink": {
            "origin": "logs/2/41",
            "timestamp_source": "record",
            "digest": content_digest(action.message),
        },
    }
    assert action.flags is None


def test_repeated_shape_takes_the_planned_paths_with_the_same_result() -> None:
    # First sighting: walked; second: planned (express); third: the plan again.
    results = [indexed(record()).source for _ in range(3)]
    assert results[0] == results[1] == results[2]
    # A planned shape whose values need repair falls back to the full treatment.
    for _ in range(2):
        repaired = indexed(record(**{"trace.id": TRACE.upper()}))
    assert repaired.source["trace"] == {"id": TRACE}


def test_nested_and_dotted_forms_give_the_same_document() -> None:
    nested = {
        "@timestamp": "2026-11-22T10:23:47.123456Z",
        "log": {"level": "info"},
        "message": "order placed",
        "trace": {"id": TRACE},
        "span": {"id": SPAN},
        "event": {"id": "evt-1"},
        "service": {"name": "orders"},
    }
    nested_doc, dotted_doc = indexed(nested).source, indexed(record()).source
    # The digest is of the bytes, which differ; everything else is the same.
    del nested_doc["tracelink"]["digest"], dotted_doc["tracelink"]["digest"]
    assert nested_doc == dotted_doc


def test_mixed_dotted_and_nested_keys_merge() -> None:
    doc = indexed(record(**{"service": {"version": "1.2"}, "labels.cart": {"items": 3}})).source
    assert doc["service"] == {"name": "orders", "version": "1.2"}
    assert doc["labels"] == {"cart": {"items": 3}}


def test_same_field_twice_with_equal_values_is_fine() -> None:
    doc = indexed(record(**{"trace": {"id": TRACE}})).source
    assert doc["trace"] == {"id": TRACE}


@pytest.mark.parametrize(
    "fields",
    [
        {"service": "orders", "service.name": "x"},  # a value and an object
        {"labels.a": 1, "labels": {"a": 2}},  # the same field, two values
        {"a.b": 1, "a.b.c": 2},
    ],
)
def test_conflicting_keys_are_dead_letters(fields: dict[str, Any]) -> None:
    letter = dead(record(**fields))
    assert letter.kind == "conflicting_keys"


def test_unknown_keys_pass_through_nested() -> None:
    doc = indexed(record(**{"http.request.method": "POST", "custom": [1, 2]})).source
    assert doc["http"] == {"request": {"method": "POST"}}
    assert doc["custom"] == [1, 2]


def test_keys_that_look_like_code_are_data() -> None:
    weird = {"a'}, __import__('os')": 1, 'b"]': 2, "c\n.d": 3, "{e}.f": 4}
    for _ in range(2):  # the second run goes through a compiled plan
        doc = indexed(record(**weird)).source
    assert doc["a'}, __import__('os')"] == 1
    assert doc['b"]'] == 2
    assert doc["c\n"] == {"d": 3}
    assert doc["{e}"] == {"f": 4}


def test_reserved_tracelink_object_is_ours() -> None:
    action = indexed(record(**{"tracelink.origin": "forged", "tracelink.note": "kept"}))
    doc = action.source
    assert doc["tracelink"]["origin"] == "logs/2/41"
    assert "note" not in doc["tracelink"]
    assert doc["extra"] == {"tracelink": {"origin": "forged", "note": "kept"}}
    assert action.flags == ["reserved_field_moved"]


@pytest.mark.parametrize(
    "fields",
    [
        {"tracelink.flags": "mine"},
        {"tracelink": "x"},
        {"tracelink": {"flags": ["truncated"], "timestamp_source": "record"}},
    ],
)
def test_forged_metadata_is_moved_aside_and_flagged(fields: dict[str, Any]) -> None:
    action = indexed(record(**fields))
    meta = action.source["tracelink"]
    assert meta["flags"] == ["reserved_field_moved"]
    assert set(meta) == {"origin", "timestamp_source", "digest", "flags"}
    forged = fields.get("tracelink", {"flags": "mine"})
    assert action.source["extra"]["tracelink"] == forged


def test_forged_metadata_is_kept_as_text_when_extra_is_taken() -> None:
    action = indexed(record(**{"tracelink": {"a": 1}, "extra": "mine"}))
    assert action.source["extra"] == "mine"
    assert orjson.loads(action.source["tracelink"]["forged"]) == {"a": 1}
    assert action.flags == ["reserved_field_moved"]


# --- trace and span IDs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (TRACE, TRACE),
        (TRACE.upper(), TRACE),
        ("a3ce929d0e0e4736", "0000000000000000a3ce929d0e0e4736"),  # 64-bit Jaeger ID
        ("abc", "00000000000000000000000000000abc"),
    ],
)
def test_trace_ids_are_normalised(given: str, stored: str) -> None:
    action = indexed(record(**{"trace.id": given}))
    assert action.source["trace"]["id"] == stored
    assert action.flags is None


@pytest.mark.parametrize("given", ["0", "0" * 32, ""])
def test_zero_and_empty_trace_ids_are_removed(given: str) -> None:
    action = indexed(record(**{"trace.id": given}))
    assert "trace" not in action.source
    assert "invalid" not in action.source["tracelink"]
    assert action.flags is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("not-a-trace-id", "not-a-trace-id"),
        ("4bf92f3577b34da6a3ce929d0e0e4736ff", "4bf92f3577b34da6a3ce929d0e0e4736ff"),  # 34 digits
        (" " + TRACE, " " + TRACE),
        (12345, "12345"),
        (True, "true"),
        (["a"], '["a"]'),
    ],
)
def test_invalid_trace_ids_are_kept_aside_and_flagged(given: Any, kept: str) -> None:
    action = indexed(record(**{"trace.id": given}))
    assert "trace" not in action.source
    assert action.source["tracelink"]["invalid"] == {"trace_id": kept}
    assert action.flags == ["invalid_trace_id"]


def test_trace_id_object_is_left_for_the_mapping_to_reject() -> None:
    action = indexed(record(**{"trace.id": {"nested": 1}}), headers=(("traceparent", b""),))
    assert action.source["trace"]["id"] == {"nested": 1}


@pytest.mark.parametrize(
    ("given", "stored", "flags"),
    [
        (SPAN.upper(), SPAN, None),
        ("abc", "0000000000000abc", None),
        ("0" * 16, None, None),
        ("x" * 16, None, ["invalid_span_id"]),
        (SPAN + "00", None, ["invalid_span_id"]),
    ],
)
def test_span_ids(given: str, stored: str | None, flags: list[str] | None) -> None:
    action = indexed(record(**{"span.id": given}))
    assert action.source.get("span", {}).get("id") == stored
    assert action.flags == flags


TRACEPARENT = (("traceparent", f"00-{'ab' * 16}-{'cd' * 8}-01".encode()),)


def test_context_comes_from_traceparent_when_the_body_has_none() -> None:
    action = indexed(record(**{"trace.id": _DROP, "span.id": _DROP}), headers=TRACEPARENT)
    assert action.source["trace"] == {"id": "ab" * 16, "sampled": True}
    assert action.source["span"] == {"id": "cd" * 8}
    assert action.flags == ["trace_context_from_header"]


def test_traceparent_replaces_a_zero_trace_id_but_keeps_a_valid_span() -> None:
    action = indexed(record(**{"trace.id": "0" * 32}), headers=TRACEPARENT)
    assert action.source["trace"]["id"] == "ab" * 16
    assert action.source["span"]["id"] == SPAN


def test_body_context_wins_over_traceparent() -> None:
    action = indexed(record(), headers=TRACEPARENT)
    assert action.source["trace"]["id"] == TRACE
    assert action.flags is None


def test_invalid_traceparent_is_ignored() -> None:
    action = indexed(record(**{"trace.id": _DROP}), headers=(("traceparent", b"garbage"),))
    assert "trace" not in action.source


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored", "index_date"),
    [
        ("2026-11-22T10:23:47.123456Z", "2026-11-22T10:23:47.123456Z", "2026-11-22"),
        ("2026-11-22T10:23:47.123456789Z", "2026-11-22T10:23:47.123456789Z", "2026-11-22"),
        ("2026-11-22T10:23:47Z", "2026-11-22T10:23:47Z", "2026-11-22"),
        ("2026-11-22T23:30:00.5-02:00", "2026-11-23T01:30:00.5Z", "2026-11-23"),
        ("2026-11-22T00:30:00+01:00", "2026-11-21T23:30:00Z", "2026-11-21"),
        ("2026-11-22 10:23:47,250+00:00", "2026-11-22T10:23:47.250Z", "2026-11-22"),
        ("2026-11-22t10:23:47z", "2026-11-22T10:23:47Z", "2026-11-22"),
    ],
)
def test_timestamps_are_stored_in_utc(given: str, stored: str, index_date: str) -> None:
    action = indexed(record(**{"@timestamp": given}))
    assert action.source["@timestamp"] == stored
    assert action.index == f"tl-logs-{index_date}"
    assert action.source["tracelink"]["timestamp_source"] == "record"


@pytest.mark.parametrize(
    "given",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "1960-01-01T00:00:00Z",  # before date_nanos' range
        "2300-01-01T00:00:00Z",  # after it
        "2026-11-22T10:23:47.1234567890Z",  # more than nanoseconds
        # No offset: names no instant (Python's asctime is local time).
        "2026-11-22 10:23:47,250",
        # Non-ASCII digits: re's \d matches them, Elasticsearch refuses them.
        "\u0662\u0660\u0662\u0666-11-22T10:23:47Z",
        "2026-11-22T10:23:4\u0667Z",
        "2026-11-22T10:23:47.12\u0663Z",
        1795337000,
        None,
    ],
)
def test_unusable_timestamps_use_the_kafka_time_and_keep_the_original(given: Any) -> None:
    action = indexed(record(**{"@timestamp": given}))
    assert action.source["@timestamp"] == "2026-11-22T08:43:20.123Z"
    assert action.index == "tl-logs-2026-11-22"
    meta = action.source["tracelink"]
    assert meta["timestamp_source"] == "kafka"
    expected = given if isinstance(given, str) else orjson.dumps(given).decode()
    assert meta["timestamp_original"] == expected


def test_missing_timestamp_uses_the_kafka_time() -> None:
    action = indexed(record(**{"@timestamp": _DROP}))
    assert action.source["@timestamp"] == "2026-11-22T08:43:20.123Z"
    assert action.source["tracelink"]["timestamp_source"] == "kafka"
    assert "timestamp_original" not in action.source["tracelink"]


def test_without_any_usable_time_the_ingest_time_is_used() -> None:
    action = indexed(record(**{"@timestamp": _DROP}), timestamp=-1)
    assert action.source["@timestamp"] == INGESTED
    assert action.source["tracelink"]["timestamp_source"] == "ingest"


# --- identity -----------------------------------------------------------------------------


def test_record_without_event_id_gets_a_derived_id_stored_as_event_id() -> None:
    action = indexed(record(**{"event.id": _DROP}))
    assert action.doc_id.startswith("logs-2-41-")
    assert action.doc_id == fallback_id(action.message)
    # Stored, so that sorting on (@timestamp, event.id) is a total order for the API.
    assert action.source["event"] == {"ingested": INGESTED, "id": action.doc_id}
    assert action.flags is None


def test_derived_id_is_unique_to_the_record_not_only_its_offset() -> None:
    """A re-created topic starts at offset 0 again: a new record there is no duplicate."""
    first = indexed(record(**{"event.id": _DROP, "message": "a"}))
    same_offset_other_record = indexed(record(**{"event.id": _DROP, "message": "b"}))
    other_key = indexed(record(**{"event.id": _DROP, "message": "a"}), key=b"k")
    other_time = indexed(record(**{"event.id": _DROP, "message": "a"}), timestamp=1)
    replay = indexed(record(**{"event.id": _DROP, "message": "a"}))
    ids = {a.doc_id for a in (first, same_offset_other_record, other_key, other_time)}
    assert len(ids) == 4
    assert replay.doc_id == first.doc_id  # a replay still meets its document


@pytest.mark.parametrize("given", ["", "x" * 513, 1.5, [1], True, 7, None])
def test_unusable_event_ids_are_replaced_and_flagged(given: Any) -> None:
    action = indexed(record(**{"event.id": given}))
    assert action.doc_id == fallback_id(action.message)
    assert action.source["event"]["id"] == action.doc_id
    if given is None:
        assert action.flags is None  # null says "none", not a wrong ID
        return
    assert action.flags == ["invalid_event_id"]
    kept = given if isinstance(given, str) else orjson.dumps(given).decode()
    assert action.source["tracelink"]["invalid"]["event_id"] == kept[:512]


def test_integer_event_id_is_not_an_id() -> None:
    """Integers are what buggy producers reuse ("1" per process): never trusted as IDs."""
    action = indexed(record(**{"event.id": 7}))
    assert action.doc_id != "7"
    assert action.flags == ["invalid_event_id"]


def test_event_id_of_512_bytes_is_accepted() -> None:
    assert indexed(record(**{"event.id": "é" * 256})).doc_id == "é" * 256


# --- bad input and limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"", "empty"),
        (None, "empty"),
        (b"not json", "not_json"),
        (b'{"a": 1', "not_json"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"message": "caf\xe9"}', "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b"42", "not_object"),
        (b'"text"', "not_object"),
        (b"null", "not_object"),
        (b"true", "not_object"),
    ],
)
def test_undecodable_values_are_dead_letters(payload: bytes | None, kind: str) -> None:
    letter = dead(payload, raw=True)
    assert letter.kind == kind
    assert letter.reason
    assert letter.message.value == payload


def test_oversized_message_is_a_dead_letter_unparsed() -> None:
    letter = dead(record(message="x" * 2_000_000))
    assert letter.kind == "too_large"
    assert "exceeds the limit of 1048576 bytes" in letter.reason


def test_deep_nesting_is_a_dead_letter() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(30):
        deep = {"level": deep}
    assert dead(record(labels=deep)).kind == "too_deep"


def test_deep_dotted_key_is_a_dead_letter() -> None:
    assert dead(record(**{".".join(["k"] * 20): 1})).kind == "too_deep"


def test_very_deep_json_is_a_dead_letter_not_a_crash() -> None:
    letter = dead(b'{"a":' * 5000 + b"1" + b"}" * 5000, raw=True)
    assert letter.kind in {"too_deep", "not_json"}


def test_field_explosion_is_a_dead_letter() -> None:
    many = {f"labels.k{i}": i for i in range(3000)}
    letter = dead(record(**many))
    assert letter.kind == "too_many_fields"


def test_array_counts_as_one_field() -> None:
    assert indexed(record(numbers=list(range(5000)))).source["numbers"][-1] == 4999


def test_long_strings_are_truncated_and_flagged() -> None:
    limits = Limits(max_field_bytes=1024)
    action = indexed(record(message="é" * 1000, **{"error.stack_trace": "s" * 5000}), limits=limits)
    assert len(action.source["message"].encode()) <= 1024
    assert action.source["message"] == "é" * 512
    assert action.source["error"]["stack_trace"] == "s" * 1024
    assert action.flags == ["truncated"]


def test_strings_in_arrays_are_truncated_too() -> None:
    action = indexed(record(tags=["a" * 5000]), limits=Limits(max_field_bytes=1024))
    assert action.source["tags"] == ["a" * 1024]


# --- contracts with the rest of the product ------------------------------------------------


def test_every_metadata_field_written_is_in_the_layout() -> None:
    action = indexed(
        record(
            **{
                "@timestamp": "never",
                "trace.id": "zzz",
                "span.id": "zzz",
                "event.id": 1.5,
                "message": "m" * 2000,
            }
        ),
        limits=Limits(max_field_bytes=1024),
    )
    written = {path for path in leaf_paths(action.source) if path.startswith("tracelink.")}
    assert written <= set(LOG_FIELDS.values())
    assert len(written) == 8


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8))
_keys = st.text(alphabet="abc.", min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, st.one_of(_scalars, st.dictionaries(_keys, _scalars, max_size=3))))
def test_planned_and_walked_paths_agree(extra: dict[str, Any]) -> None:
    transform_module._PLANS.clear()
    transform_module._SEEN_ONCE.clear()
    value = orjson.dumps({**record(), **extra})
    transformer = Transformer("tl-logs")
    first = transformer.transform(Message(value), INGESTED)  # walked
    second = transformer.transform(Message(value), INGESTED)  # planned
    if isinstance(first, DeadLetter):
        assert isinstance(second, DeadLetter)
        assert first.kind == second.kind
    else:
        assert isinstance(second, IndexAction)
        assert (first.index, first.doc_id, first.source) == (
            second.index,
            second.doc_id,
            second.source,
        )


# --- one record's error is that record's dead letter, never the pipeline's ------------------


@pytest.mark.parametrize(
    "timestamp",
    [1_795_337_000_123_000, 2**63 - 1, -(2**63), 9_214_646_400_000],
)
def test_far_future_kafka_timestamp_without_record_time_is_not_a_crash(timestamp: int) -> None:
    """µs written where Kafka wants ms put the fallback past year 9999 (was OverflowError)."""
    action = indexed(record(**{"@timestamp": _DROP}), timestamp=timestamp)
    assert action.source["@timestamp"] == INGESTED
    assert action.source["tracelink"]["timestamp_source"] == "ingest"


def test_unforeseen_error_in_one_record_is_its_dead_letter() -> None:
    # A header that is not a (key, value) pair: the transform never expected it.
    result = run(record(**{"trace.id": _DROP}), headers=(("traceparent",),))
    assert isinstance(result, DeadLetter)
    assert result.kind == "transform_error"
    assert "ValueError" in result.reason


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="ab.@tracelinkevdsp", max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
_special_values = st.sampled_from(
    [
        "2026-11-22T10:23:47.123456Z",
        "2026-11-22T10:23:47Z",
        "\u0662\u0660\u0662\u0666-11-22T10:23:47Z",
        "1970-01-01T00:00:00Z",
        "2261-12-31T23:59:59.999999999Z",
        "2262-04-12T00:00:00Z",
        TRACE,
        SPAN,
        "0" * 32,
        "",
        2**70,
        -1,
    ]
)


def _stdlib_json(value: Any) -> bytes:
    return json.dumps(value).encode()


_records = st.dictionaries(
    st.sampled_from(
        [
            "@timestamp",
            "trace.id",
            "span.id",
            "event.id",
            "event",
            "trace",
            "span",
            "tracelink",
            "tracelink.flags",
            "extra",
            "message",
            "log.level",
            "a.b",
            "a",
        ]
    ),
    _special_values | _json,
    max_size=10,
)
_timestamps = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**63 - 1])
)
_header_values = st.one_of(st.none(), st.binary(max_size=60), st.just(b"00-" + TRACE.encode()))
_headers = st.lists(
    st.tuples(st.sampled_from(["traceparent", "content-type", "x", ""]), _header_values),
    max_size=3,
).map(tuple)


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        # The standard library writes what orjson would refuse (huge integers, lone
        # surrogates as \ud800 escapes), as producers in other languages may.
        _records.map(_stdlib_json),
        _json.map(_stdlib_json),
        st.binary(max_size=80),
        st.none(),
    ),
    timestamp=_timestamps,
    key=st.one_of(st.none(), st.binary(max_size=40)),
    headers=_headers,
    offset=st.integers(0, 2**63 - 1),
    partition=st.integers(0, 2**31 - 1),
)
def test_any_message_becomes_a_document_or_a_dead_letter(
    value: bytes | None,
    timestamp: int | None,
    key: bytes | None,
    headers: tuple[tuple[str, bytes], ...],
    offset: int,
    partition: int,
) -> None:
    message = Message(
        value, timestamp=timestamp, key=key, headers=headers, offset=offset, partition=partition
    )
    for limits in (None, Limits(max_depth=3, max_fields=10, max_field_bytes=256)):
        transformer = Transformer("tl-logs", limits)
        result = transformer.transform(message, INGESTED)
        assert isinstance(result, IndexAction | DeadLetter)
        if isinstance(result, IndexAction):
            assert result.doc_id
            assert len(result.doc_id.encode()) <= 512
            assert result.index.startswith("tl-logs-")
            assert len(result.source["@timestamp"]) > 0
            event = result.source["event"]
            # A non-object "event" is left for the index mapping to refuse (a dead letter).
            assert type(event) is not dict or type(event["id"]) is str
            # What the sink will send must encode: this is the next step of the pipeline.
            create_item(result.index, result.doc_id, result.source)


# --- @timestamp far from the ingest time ----------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "flagged"),
    [
        ("2026-11-22T10:23:47.123456Z", False),
        ("2026-11-15T00:00:00Z", False),  # seven days before the ingest date: the limit
        ("2026-11-14T23:59:59Z", True),
        ("2026-11-29T23:59:59Z", False),
        ("2026-11-30T00:00:00Z", True),
        ("1970-01-01T00:00:00Z", True),
        ("2261-12-31T23:59:59Z", True),
    ],
)
def test_timestamps_far_from_the_ingest_time_are_indexed_and_flagged(
    stamp: str, flagged: bool
) -> None:
    limits = Limits(timestamp_max_distance_days=7)
    for _ in range(3):  # the planned and express paths too
        action = indexed(record(**{"@timestamp": stamp}), limits=limits)
        assert action.source["@timestamp"] == stamp
        assert action.index == f"tl-logs-{stamp[:10]}"  # where the README says it goes
        assert (action.flags == ["timestamp_out_of_range"]) is flagged
        assert ("flags" in action.source["tracelink"]) is flagged


def test_a_far_kafka_time_is_flagged_too() -> None:
    action = indexed(record(**{"@timestamp": _DROP}), timestamp=0)  # 1970
    assert action.source["tracelink"]["timestamp_source"] == "kafka"
    assert action.flags == ["timestamp_out_of_range"]
