"""Spans in Jaeger's Elasticsearch format without Jaeger (the embedded stack's span store).

- :func:`spans_to_jaeger_documents` / :func:`otlp_to_jaeger_documents` — the documents
  Jaeger v2.20 stores for OpenTelemetry spans (pure).
- :class:`JaegerElasticsearchSpanExporter` — an OpenTelemetry ``SpanExporter`` writing them
  (``write_documents`` for spans that arrive already encoded, as OTLP).
- :func:`install_jaeger_templates` — Jaeger's span/service index templates.
"""

from devstack.jaeger.exporter import ExportStats, JaegerElasticsearchSpanExporter, WriteOutcome
from devstack.jaeger.model import TagsAsFields, otlp_to_jaeger_documents, spans_to_jaeger_documents
from devstack.jaeger.templates import install_jaeger_templates, jaeger_index_templates

__all__ = [
    "ExportStats",
    "JaegerElasticsearchSpanExporter",
    "TagsAsFields",
    "WriteOutcome",
    "install_jaeger_templates",
    "jaeger_index_templates",
    "otlp_to_jaeger_documents",
    "spans_to_jaeger_documents",
]
