from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from devstack.demo.settings import DemoSettings
from devstack.demo.telemetry import _span_exporter
from devstack.jaeger import JaegerElasticsearchSpanExporter


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_spans_go_to_otlp_when_an_endpoint_is_configured(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv(variable, "http://jaeger:4318")
    exporter, destination = _span_exporter(DemoSettings())
    try:
        assert isinstance(exporter, OTLPSpanExporter)
        assert destination == "OTLP http://jaeger:4318"
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]


def test_spans_go_to_elasticsearch_in_jaeger_format_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("TRACELINK_ES_URL", "http://es.example:9200")
    monkeypatch.setenv("TRACELINK_JAEGER_INDEX_PREFIX", "prod")
    exporter, destination = _span_exporter(DemoSettings())
    try:
        assert isinstance(exporter, JaegerElasticsearchSpanExporter)
        assert destination == "Elasticsearch http://es.example:9200 (Jaeger format)"
        assert exporter.jaeger_prefix == "prod"
    finally:
        exporter.shutdown()
