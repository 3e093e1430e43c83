"""The OTLP hot paths against their plain references, on random payloads.

Hand-optimised: attribute placement decided once per record shape (``otlp._proto_record``,
oracle ``otlp._build``), string values read without ``WhichOneof`` (oracle: every value
through ``_proto_any``), the per-second timestamp cache (oracle: the plain formatter), and
one transform plan per record shape of a payload (``Transformer.transform_planned``, oracle
``Transformer.transform_record``). Whatever the payload, the documents, their bytes and
key order, the dead letters and their payloads must be the same.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from shipper import transform as transform_module
from shipper.bulk import create_item
from shipper.formats import Origin, otlp
from shipper.formats.dispatch import FormatDispatcher, RecordRef
from shipper.transform import DeadLetter, IndexAction, Limits, Transformer
from tests.support.otlp import (
    GOLDEN_NS,
    GOLDEN_SPAN,
    GOLDEN_TRACE,
    LogSpec,
    random_request,
    sdk_request,
)
from tests.support.otlp import to_json as otlp_json
from tests.support.shipping import KafkaMessage
from tracelink.times import format_rfc3339_us

INGESTED = "2026-11-22T10:30:00.000000Z"  # GOLDEN_NS's day: most records are in the window


def _plain_fields(record: LogRecord) -> Any:
    """``otlp._proto_fields`` without its shortcuts: every value through ``_proto_any``."""
    body: Any = None
    kind = ""
    if record.HasField("body"):
        member = record.body.WhichOneof("value")
        if member is not None:
            body = otlp._proto_any(record.body)
            kind = {"string_value": "string", "bytes_value": "bytes"}.get(member, "scalar")
            if member in ("kvlist_value", "array_value"):
                kind = "structured"
    return otlp._Fields(
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        body,
        kind,
        [(kv.key, otlp._proto_any(kv.value)) for kv in record.attributes],
        record.flags,
        record.trace_id.hex(),
        len(record.trace_id),
        record.span_id.hex(),
        len(record.span_id),
        record.event_name,
    )


def _plain_record(log_record: LogRecord, *args: Any, **caches: Any) -> Any:
    del caches
    # No shape: the dispatcher takes transform_record.
    return otlp._build(_plain_fields(log_record), *args)


def _outcomes(value: bytes, limits: Limits) -> list[Any]:
    """Everything the dispatcher makes of ``value`` (twice: plans come on a second sight)."""
    transform_module._PLANS.clear()
    transform_module._SEEN_ONCE.clear()
    dispatcher = FormatDispatcher(Transformer("tracelink-logs", limits))
    out: list[Any] = []
    for offset in (7, 7, 8):
        message = KafkaMessage(value, topic="otlp", partition=3, offset=offset)
        result = dispatcher.process(message, INGESTED)
        assert not isinstance(result, IndexAction | DeadLetter)
        for action, ref in zip(result.actions, result.refs, strict=True):
            assert isinstance(ref, RecordRef)
            item = create_item(action.index, action.doc_id, action.source)
            out.append((item, action.flags, action.message is message, ref.index, ref.alone()))
        out.extend((d.kind, d.reason, d.record, d.payload) for d in result.letters)
    return out


_LIMITS = [Limits(), Limits(max_field_bytes=1000, max_fields=50, max_depth=6)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.sampled_from(_LIMITS), st.booleans())
def test_fast_paths_write_what_the_plain_paths_write(
    rng: random.Random, limits: Limits, as_json: bool
) -> None:
    request = random_request(rng, GOLDEN_NS)
    value = otlp_json(request) if as_json else request.SerializeToString()
    fast = _outcomes(value, limits)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(otlp, "_proto_fields", _plain_fields)
        patch.setattr(otlp, "_proto_record", _plain_record)
        patch.setattr(otlp, "format_rfc3339_us_fast", format_rfc3339_us)
        plain = _outcomes(value, limits)
    assert fast == plain


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_fast_record_building_matches_the_plain_mapping(rng: random.Random) -> None:
    request = random_request(rng, GOLDEN_NS)
    origin = Origin("otlp", 0, 1)
    fast = otlp.decode_proto(request.SerializeToString(), origin)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(otlp, "_proto_fields", _plain_fields)
        patch.setattr(otlp, "_proto_record", _plain_record)
        plain = otlp.decode_proto(request.SerializeToString(), origin)
    if isinstance(plain, list):
        assert isinstance(fast, list)
        assert [(orjson.dumps(r.fields), r.index, r.flags, r.invalid) for r in fast] == [
            (orjson.dumps(r.fields), r.index, r.flags, r.invalid) for r in plain
        ]
        # A shape is promised only to flat, scalar-only records.
        for record in fast:
            if record.shape is not None:
                assert all(type(v) not in (dict, list) for v in record.fields.values())
    else:
        assert fast == plain


def test_a_usual_payload_takes_the_fast_paths() -> None:
    """Records as the SDK writes them (one resource and scope, the same attributes) share
    one shape, and once it is planned its records go through the planned transform."""
    specs = [
        LogSpec(
            f"order {i}",
            trace_id=GOLDEN_TRACE,
            span_id=GOLDEN_SPAN,
            attributes={"order.id": f"o-{i}", "thread.name": "MainThread"},
        )
        for i in range(5)
    ]
    value = sdk_request([({"service.name": "orders", "host.name": "h"}, specs)])
    decoded = otlp.decode_proto(value.SerializeToString(), Origin("t", 0, 0))
    assert isinstance(decoded, list)
    assert len({id(record.shape) for record in decoded}) == 1
    assert decoded[0].shape is not None
    transform_module._PLANS.clear()
    transform_module._SEEN_ONCE.clear()
    transformer = Transformer("tracelink-logs")
    planned = []
    real = Transformer.transform_planned

    def spy(self: Transformer, *args: Any) -> Any:
        result = real(self, *args)
        planned.append(result)
        return result

    dispatcher = FormatDispatcher(transformer)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Transformer, "transform_planned", spy)
        for _ in range(2):
            result = dispatcher.process(KafkaMessage(value.SerializeToString()), INGESTED)
            assert not isinstance(result, IndexAction | DeadLetter)
            assert len(result.actions) == 5
    # The first message meets the shape for the first time (no plan yet): the second's
    # records all take the planned transform.
    assert len(planned) == 5
    assert all(isinstance(action, IndexAction) for action in planned)
