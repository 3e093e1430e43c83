"""Stamp trace context on stdlib and structlog records, render ECS JSON, ship to Kafka."""
