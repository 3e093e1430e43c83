"""The processors as plain functions over plain dicts."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import Tracer

import logging_ext
from logging_ext import RedactSecrets, add_trace_context
from logging_ext._fields import CONTRACT_FIELDS, is_reserved


def test_add_trace_context_inside_a_span(tracer: Tracer) -> None:
    with tracer.start_as_current_span("s") as span:
        event_dict = add_trace_context(None, "info", {"event": "x"})
    context = span.get_span_context()
    assert event_dict == {
        "event": "x",
        "trace.id": format(context.trace_id, "032x"),
        "span.id": format(context.span_id, "016x"),
        "trace.sampled": True,
    }


def test_add_trace_context_outside_a_span_adds_nothing() -> None:
    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}


def test_add_trace_context_is_idempotent(tracer: Tracer) -> None:
    with tracer.start_as_current_span("s"):
        once = add_trace_context(None, "info", {"event": "x"})
        twice = add_trace_context(None, "info", dict(once))
    assert once == twice


def test_add_trace_context_moves_foreign_values_aside(tracer: Tracer) -> None:
    with tracer.start_as_current_span("s"):
        event_dict = add_trace_context(None, "info", {"event": "x", "trace.id": "legacy"})
    assert event_dict["extra.trace.id"] == "legacy"
    assert re.fullmatch(r"[0-9a-f]{32}", event_dict["trace.id"])


def test_add_trace_context_reads_a_stdlib_record_stamp() -> None:
    record = logging.makeLogRecord({"_logging_ext_trace": ("a" * 32, "b" * 16, False)})
    event_dict = add_trace_context(None, "info", {"event": "x", "_record": record})
    assert (event_dict["trace.id"], event_dict["span.id"], event_dict["trace.sampled"]) == (
        "a" * 32,
        "b" * 16,
        False,
    )


def test_add_trace_context_reads_logging_instrumentor_attributes() -> None:
    record = logging.makeLogRecord(
        {"otelTraceID": "c" * 32, "otelSpanID": "d" * 16, "otelTraceSampled": True}
    )
    event_dict = add_trace_context(None, "info", {"event": "x", "_record": record})
    assert event_dict["trace.id"] == "c" * 32
    unset = logging.makeLogRecord({"otelTraceID": "0", "otelSpanID": "0"})
    assert "trace.id" not in add_trace_context(None, "info", {"event": "x", "_record": unset})


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "PASSWORD",
        "passwd",
        "client_secret",
        "X-Api-Key",
        "api_key",
        "apiKey",
        "Authorization",
        "proxy-authorization",
        "refresh_token",
        "token",
    ],
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    event_dict = RedactSecrets()(None, "info", {"event": "e", key: "s3cr3t", "order_id": 1})
    assert event_dict == {"event": "e", key: "[REDACTED]", "order_id": 1}


def test_nested_secrets_are_masked_without_touching_the_callers_objects() -> None:
    headers = {"Authorization": "Bearer abc", "Accept": "json"}
    attempts = [{"user": "u", "password": "p"}, "plain"]
    event_dict = RedactSecrets()(
        None, "info", {"event": "e", "headers": headers, "attempts": attempts}
    )
    assert event_dict["headers"] == {"Authorization": "[REDACTED]", "Accept": "json"}
    assert event_dict["attempts"] == [{"user": "u", "password": "[REDACTED]"}, "plain"]
    assert headers["Authorization"] == "Bearer abc"
    assert attempts[0] == {"user": "u", "password": "p"}


def test_unchanged_containers_are_not_copied() -> None:
    payload = {"a": {"b": [1, 2, {"c": 3}]}}
    event_dict = RedactSecrets()(None, "info", {"payload": payload})
    assert event_dict["payload"] is payload


def test_redaction_keys_are_configurable() -> None:
    redact = RedactSecrets(["ssn", "card-number"], replacement="***")
    event_dict = redact(None, "info", {"SSN": "1", "card_number": "2", "password": "kept"})
    assert event_dict == {"SSN": "***", "card_number": "***", "password": "kept"}
    assert RedactSecrets([])(None, "info", {"password": "p"}) == {"password": "p"}


def test_redaction_rejects_a_single_string() -> None:
    with pytest.raises(TypeError):
        RedactSecrets("password")


def test_none_values_and_the_message_are_left_alone() -> None:
    event_dict = RedactSecrets()(None, "info", {"event": "token expired", "token": None})
    assert event_dict == {"event": "token expired", "token": None}


def test_redaction_depth_is_bounded() -> None:
    deep: dict[str, Any] = {"password": "p"}
    for _ in range(10):
        deep = {"level": deep}
    event_dict = RedactSecrets(max_depth=3)(None, "info", {"deep": deep})
    assert event_dict["deep"] is deep


def test_configure_logging_redacts_in_both_worlds() -> None:
    from logging_ext.testing import capture_logs

    with capture_logs(redact_keys=["session"]) as records:
        logging.getLogger("x").info("a", extra={"session_id": "1", "password": "kept"})
    assert records[0]["session_id"] == "[REDACTED]"
    assert records[0]["password"] == "kept"


@given(st.text(max_size=30))
def test_reserved_keys(key: str) -> None:
    reserved = is_reserved(key)
    if key in CONTRACT_FIELDS or key.startswith("_"):
        assert reserved
    if any(key.startswith(field + ".") for field in CONTRACT_FIELDS):
        assert reserved
    if key.isidentifier() and not key.startswith("_") and key not in {"trace", "span", "log"}:
        # Plain identifiers conflict only with the parents of contract fields.
        assert reserved == (key in {"event", "service", "host", "process", "error", "ecs"})


def test_public_api_is_small_and_documented() -> None:
    assert len(logging_ext.__all__) <= 12
    for name in logging_ext.__all__:
        assert getattr(logging_ext, name).__doc__, name
    assert {"configure_logging", "add_trace_context", "KafkaHandler"} <= set(logging_ext.__all__)
