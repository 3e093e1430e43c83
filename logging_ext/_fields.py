"""The field names of a log record (ECS 8.x), in one place.

They come from :data:`tracelink.layout.LOG_FIELDS`, the names the shipper indexes and the
API and Kibana read, so producer and consumer cannot drift apart. Records are written with
dotted keys at the top level (``{"trace.id": ...}``), as ecs-logging does.
"""

from __future__ import annotations

from typing import Final

from tracelink.layout import LOG_FIELDS

TIMESTAMP: Final = LOG_FIELDS["timestamp"]
MESSAGE: Final = LOG_FIELDS["message"]
LEVEL: Final = LOG_FIELDS["level"]
LOGGER: Final = LOG_FIELDS["logger"]
TRACE_ID: Final = LOG_FIELDS["trace_id"]
SPAN_ID: Final = LOG_FIELDS["span_id"]
SAMPLED: Final = LOG_FIELDS["sampled"]
EVENT_ID: Final = LOG_FIELDS["event_id"]
SERVICE: Final = LOG_FIELDS["service"]
SERVICE_VERSION: Final = LOG_FIELDS["service_version"]
ENVIRONMENT: Final = LOG_FIELDS["environment"]
HOST: Final = LOG_FIELDS["host"]
PID: Final = LOG_FIELDS["pid"]
THREAD: Final = LOG_FIELDS["thread"]
ERROR_TYPE: Final = LOG_FIELDS["error_type"]
ERROR_MESSAGE: Final = LOG_FIELDS["error_message"]
ERROR_STACK: Final = LOG_FIELDS["error_stack"]
ECS_VERSION: Final = LOG_FIELDS["ecs_version"]

ECS_VERSION_VALUE: Final = "8.11.0"

# ``stack_info=True`` (stdlib and structlog): beside ``log.origin.*``, as it says where the
# call came from.
STACK_INFO: Final = LOG_FIELDS["stack_info"]
# Set when logging_ext had to fall back while rendering (bad %-args, a failing processor).
RENDER_ERROR: Final = LOG_FIELDS["render_error"]

# Structured extras that would overwrite a contract field are kept, under this prefix:
# ``extra={"message": "x"}`` comes out as ``"extra.message": "x"``.
CONFLICT_PREFIX: Final = "extra."

CONTRACT_FIELDS: Final = frozenset(
    {
        TIMESTAMP,
        MESSAGE,
        LEVEL,
        LOGGER,
        TRACE_ID,
        SPAN_ID,
        SAMPLED,
        EVENT_ID,
        SERVICE,
        SERVICE_VERSION,
        ENVIRONMENT,
        HOST,
        PID,
        THREAD,
        ERROR_TYPE,
        ERROR_MESSAGE,
        ERROR_STACK,
        ECS_VERSION,
        STACK_INFO,
        RENDER_ERROR,
    }
)


def _ancestors(field: str) -> set[str]:
    parts = field.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


# A key equal to a contract field or to one of its parents ("trace", "log", "event") would
# overwrite it once the shipper nests dotted keys; a key below one ("trace.id.x") would turn
# a string field into an object. All three are conflicts.
RESERVED_KEYS: Final = CONTRACT_FIELDS | frozenset().union(*map(_ancestors, CONTRACT_FIELDS))
RESERVED_PREFIXES: Final = tuple(sorted(f"{field}." for field in CONTRACT_FIELDS))


def is_reserved(key: str) -> bool:
    """Whether an extra named ``key`` must be moved aside (see :data:`CONFLICT_PREFIX`).

    Keys starting with ``_`` are reserved too: Elasticsearch refuses top-level fields such as
    ``_id``, and structlog uses the prefix for its own bookkeeping.
    """
    return key in RESERVED_KEYS or key.startswith("_") or key.startswith(RESERVED_PREFIXES)
