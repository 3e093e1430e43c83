"""Kibana saved objects, Jaeger UI link patterns, and their importer.

``render_saved_objects`` / ``render_jaeger_ui_config`` build the objects for one deployment's
index prefixes and link URLs; ``KibanaClient`` waits for a Kibana and imports them (used by
``tracelink setup``). ``saved_objects.ndjson`` and ``jaeger-ui-config.json`` in this folder
are the renderings with the default settings; ``python -m kibana`` rewrites them.
"""

from kibana.client import KibanaClient, KibanaError
from kibana.jaeger_ui import render_jaeger_ui_config
from kibana.objects import RenderOptions, render_saved_objects, to_ndjson

__all__ = [
    "KibanaClient",
    "KibanaError",
    "RenderOptions",
    "render_jaeger_ui_config",
    "render_saved_objects",
    "to_ndjson",
]
