"""The transform, record by record: what gets indexed, repaired or dead-lettered."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper import transform as transform_module
from shipper.transform import DeadLetter, IndexAction, Limits, Transformer
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
        "tracelink": {"origin": "logs/2/41", "timestamp_source": "record"},
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
    assert indexed(nested).source == indexed(record()).source


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
    doc = indexed(record(**{"tracelink.origin": "forged", "tracelink.note": "kept"})).source
    assert doc["tracelink"]["origin"] == "logs/2/41"
    assert doc["tracelink"]["note"] == "kept"


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
        ("2026-11-22 10:23:47,250", "2026-11-22T10:23:47.250Z", "2026-11-22"),
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


def test_record_without_event_id_gets_the_origin_as_id() -> None:
    action = indexed(record(**{"event.id": _DROP}))
    assert action.doc_id == "logs-2-41"
    assert action.source["event"] == {"ingested": INGESTED}
    assert action.flags is None


@pytest.mark.parametrize("given", ["", "x" * 513, 1.5, {"a": 1}.keys() and [1], True])
def test_unusable_event_ids_fall_back_and_are_flagged(given: Any) -> None:
    action = indexed(record(**{"event.id": given}))
    assert action.doc_id == "logs-2-41"
    assert action.flags == ["invalid_event_id"]


def test_integer_event_id_is_used_as_text() -> None:
    assert indexed(record(**{"event.id": 7})).doc_id == "7"


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
    assert len(written) == 6


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
