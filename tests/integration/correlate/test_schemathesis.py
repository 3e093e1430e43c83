"""Property-based tests of the whole API against its own OpenAPI schema (schemathesis).

A real uvicorn server on a free loopback port, backed by the Elasticsearch server of the
session, with one seeded trace so that the schema's examples reach the 200 paths too.
Checks: no 5xx, status codes / content types / bodies as documented, invalid input rejected.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from correlate.app import create_app
from correlate.settings import ApiSettings
from devstack.jaeger.templates import install_jaeger_templates
from devstack.standins import free_port
from tests.support.jaeger import SpanSpec, log_document
from tests.support.servers import ElasticsearchServer
from tracelink.elasticsearch import install_templates, make_client

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # the schema's example
EVENT = "01936f6e-8d4b-7c3a-9f1e-2b5d8c7a6e40"  # the schema's example
NOW_US = time.time_ns() // 1000
TOKEN = "schemathesis-token"


async def _seed(settings: ApiSettings) -> None:
    client = make_client(settings)
    try:
        await install_templates(client, settings, retention_days=None)
        prefix = settings.jaeger_index_prefix
        await install_jaeger_templates(client, prefix)
        spans = [
            SpanSpec(TRACE, "1" * 16, None, "frontend", "GET /", NOW_US - 60_000_000, 9_000),
            SpanSpec(TRACE, "2" * 16, "1" * 16, "pay", "charge", NOW_US - 59_999_000, 5_000,
                     tags={"error": True}, era="v1-string"),
        ]  # fmt: skip
        day = time.strftime("%Y-%m-%d", time.gmtime(NOW_US / 1_000_000))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(NOW_US / 1_000_000 - 60))
        operations: list[dict[str, Any]] = []
        for spec in spans:
            operations += [{"index": {"_index": f"{prefix}-jaeger-span-{day}"}}, spec.document()]
        operations += [
            {"create": {"_index": f"{settings.log_index_prefix}-{day}", "_id": EVENT}},
            log_document(trace_id=TRACE, span_id="2" * 16, timestamp=stamp, level="error",
                         message="declined <b>", event_id=EVENT, extra={"labels.n": 1}),
        ]  # fmt: skip
        result = await client.bulk(operations=operations, refresh=True)
        assert not result["errors"]
    finally:
        await client.close()


async def _cleanup(settings: ApiSettings, prefix: str) -> None:
    client = make_client(settings)
    try:
        listing = await client.cat.indices(index=f"{prefix}*", format="json")
        names = [row["index"] for row in cast(list[dict[str, Any]], listing.body)]
        if names:
            await client.indices.delete(index=",".join(names), ignore_unavailable=True)
        for name in (f"{prefix}-logs", f"{prefix}-dlq", f"{prefix}-jaeger-span"):
            await client.indices.delete_index_template(name=name)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def served_api(es_server: ElasticsearchServer) -> Iterator[str]:
    prefix = f"tl-schemathesis-{uuid.uuid4().hex[:8]}"
    api_settings = ApiSettings(
        es_url=[es_server.url],
        log_index_prefix=f"{prefix}-logs",
        dlq_index_prefix=f"{prefix}-dlq",
        jaeger_index_prefix=prefix,
        api_default_limit_logs=500,
        # As deployed: with a token, so the checks also see unauthenticated requests refused.
        api_token=TOKEN,
        api_max_limit_logs=1000,
    )
    asyncio.run(_seed(api_settings))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(api_settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, name="schemathesis-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API server stopped during start-up"
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        asyncio.run(_cleanup(api_settings, prefix))


OPERATIONS = [
    "/correlate/{trace_id}",
    "/correlate/{trace_id}/view",
    "/logs/{event_id}",
    "/traces",
    "/healthz",
    "/readyz",
    "/metrics",
]


@pytest.fixture(scope="module")
def api_schema(served_api: str) -> Any:
    seeded = httpx.get(
        f"{served_api}/correlate/{TRACE}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert seeded.status_code == 200
    return schemathesis.openapi.from_url(f"{served_api}/openapi.json")


def test_every_operation_is_covered(api_schema: Any) -> None:
    assert sorted(api_schema.raw_schema["paths"]) == sorted(OPERATIONS)


# Operations without parameters have no invalid request to make: positive only.
WITH_PARAMETERS = [
    "/correlate/{trace_id}",
    "/correlate/{trace_id}/view",
    "/logs/{event_id}",
    "/traces",
]
CASES = [(path, GenerationMode.POSITIVE) for path in OPERATIONS] + [
    (path, GenerationMode.NEGATIVE) for path in WITH_PARAMETERS
]


@pytest.mark.parametrize(("path", "mode"), CASES)
def test_api_conforms_to_its_schema(api_schema: Any, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path]["GET"]
    strategies = [operation.as_strategy(generation_mode=mode)]
    if mode is GenerationMode.POSITIVE:
        # The schema's own examples reach the seeded trace and log: the 200 paths.
        strategies += api_schema.get_strategies_from_examples(operation)

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        # The schema cannot say everything the API checks (e.g. which strings `since`
        # accepts), so schema-valid input may get a documented 400: not a failure.
        # The token makes the request reach the API's own validation, except when the
        # invalid component schemathesis made *is* a header (the Authorization format):
        # replacing it would turn the negative case into a valid request.
        header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        mutated_header = header is not None and header.mode.is_negative
        case.call_and_validate(
            headers=None if mutated_header else {"Authorization": f"Bearer {TOKEN}"},
            excluded_checks=[positive_data_acceptance],
            timeout=30,
        )

    check()
