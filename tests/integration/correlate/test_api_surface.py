"""What the API shows to anyone who can reach it: redirects, /readyz, the docs, metrics."""

from __future__ import annotations

import logging

import pytest

from devstack.standins import free_port
from tests.integration.correlate.conftest import MakeStack, Stack
from tests.integration.correlate.test_correlate_api import TRACE


@pytest.mark.parametrize("path", ["/traces/", f"/correlate/{TRACE}/", "/healthz/", "/docs/"])
async def test_no_trailing_slash_redirect_built_from_the_host_header(
    make_stack: MakeStack, path: str
) -> None:
    # Starlette built these redirects from the Host header, before authentication:
    # GET /traces/ with Host: evil.example -> 307 Location: http://evil.example/traces.
    for stack in (await make_stack(), await make_stack(api_token="s3cret")):
        response = await stack.api.get(path, headers={"Host": "evil.example"})
        assert response.status_code in (400, 401, 404), (path, response.status_code)
        assert "location" not in response.headers
        assert "evil.example" not in response.text


async def test_readyz_says_ready_and_nothing_about_the_cluster(stack: Stack) -> None:
    response = await stack.api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_not_ready_gives_the_reason_class_only(
    make_stack: MakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    stack = await make_stack(es_url=f"http://127.0.0.1:{port}", api_es_timeout=2)
    with caplog.at_level(logging.WARNING, logger="correlate"):
        response = await stack.api.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "reason": "unreachable",
        "detail": "Elasticsearch is unreachable",
    }
    assert str(port) not in response.text
    # The details are for the operator, in the log.
    assert any(str(port) in record.getMessage() for record in caplog.records)


async def test_one_documentation_page(stack: Stack) -> None:
    assert (await stack.api.get("/docs")).status_code == 200
    assert (await stack.api.get("/openapi.json")).status_code == 200
    assert (await stack.api.get("/redoc")).status_code == 404


async def test_the_method_label_is_bounded(stack: Stack) -> None:
    for method in ("FOO", "PROPFIND", "X" * 200):
        await stack.api.request(method, "/healthz")
    await stack.api.get("/healthz")
    text = (await stack.api.get("/metrics")).text
    assert 'tracelink_api_requests_total{method="other",route="/healthz"' in text
    assert 'method="GET",route="/healthz"' in text
    assert "FOO" not in text
    assert "PROPFIND" not in text
