"""Prometheus metrics of the correlate API (served at ``/metrics``).

Each app has its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ApiMetrics", "MetricsMiddleware", "method_label"]

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The label values a client can choose are bounded: any other verb counts as "other", so a
# client sending made-up methods cannot grow the metric without limit.
_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)


def method_label(method: str) -> str:
    """The ``method`` label of a request: a standard HTTP verb, else ``other``."""
    return method if method in _METHODS else "other"


class ApiMetrics:
    """The API's counters and histograms, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tracelink_api_requests",
            "HTTP requests answered, by method (a standard verb or 'other'), route template "
            "and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tracelink_api_request_duration_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.es_requests = Counter(
            "tracelink_api_es_requests",
            "Elasticsearch requests made, by operation (msearch, field_caps, info)",
            ["operation"],
            registry=self.registry,
        )
        self.es_errors = Counter(
            "tracelink_api_es_errors",
            "Elasticsearch requests that failed (unreachable, timed out or refused)",
            ["operation"],
            registry=self.registry,
        )
        self.es_latency = Histogram(
            "tracelink_api_es_request_duration_seconds",
            "Elasticsearch request latency by operation",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts every HTTP response by its route template (never the raw path: unbounded)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = method_label(scope["method"])
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
