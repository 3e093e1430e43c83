"""Kafka -> Elasticsearch: index the log topic next to Jaeger's span indices.

``tracelink ship`` runs :class:`shipper.app.Shipper`. The modules follow the data:
``source`` (the Kafka consumer-group member) → ``transform`` (record → document or dead
letter, pure) → ``bulk`` (NDJSON bodies and per-item results, pure) → ``sink`` (the
Elasticsearch writer) and ``dlq`` (dead letters); ``offsets`` decides what may be committed,
``metrics`` serves Prometheus and health, ``settings`` holds the knobs.
"""
