"""Kafka -> Elasticsearch: index the log topic next to Jaeger's span indices."""
