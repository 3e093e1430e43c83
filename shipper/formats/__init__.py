"""Input formats of the shipper: what a Kafka message on the log topics may be.

Each format is one module with a pure ``decode(value, origin)`` that returns the message's
log records as ECS-shaped JSON objects, or a :class:`Rejected` saying why the message is a
dead letter; each documents its field mapping in its docstring. :mod:`shipper.formats.detect`
decides, cheaply and explicitly, which format a message claims before anything decodes it.
The transform (:mod:`shipper.transform`) then applies the same rules to every record,
whatever format it came in.

* :mod:`~shipper.formats.ecs` — one ECS JSON record per message (what ``logging_ext``
  writes); handed to the transform as it is.
* :mod:`~shipper.formats.otel_json` — one JSON record per message with other languages'
  OpenTelemetry spellings (pino, logback/log4j with the Java agent's MDC, …).
* :mod:`~shipper.formats.otlp` — an OTLP ``ExportLogsServiceRequest`` in protobuf
  (``otlp_proto``) or OTLP/JSON (``otlp_json``), as the OpenTelemetry Collector's Kafka
  exporter writes it: many records per message.
"""

from shipper.formats._record import ECS, FORMATS, Origin, Record, Rejected

__all__ = ["ECS", "FORMATS", "Origin", "Record", "Rejected"]
