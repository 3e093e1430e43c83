"""Kibana saved objects, Jaeger UI link patterns, and their importer."""
