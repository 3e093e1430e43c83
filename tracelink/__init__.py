"""tracelink: log–trace correlation for OpenTelemetry-traced Python services.

This package holds what the components share: the ``tracelink`` CLI, configuration
(:mod:`tracelink.settings`), trace-ID rules (:mod:`tracelink.ids`) and the Elasticsearch
layout (:mod:`tracelink.layout`). It is kept import-light: services import ``logging_ext``.
"""

__version__ = "0.1.0"
