"""The Elasticsearch client every component uses, and the idempotent install of our templates.

The client is ``elasticsearch.AsyncElasticsearch`` 8.x (Elasticsearch 8 servers reject the
9.x client's compatibility headers). Credentials come from :class:`ElasticsearchSettings`
and are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch, NotFoundError
from elasticsearch import BadRequestError as ESBadRequestError

from tracelink.layout import (
    dlq_index_template,
    log_index_template,
    template_name,
)
from tracelink.settings import ElasticsearchSettings

__all__ = [
    "InstallReport",
    "ilm_available",
    "ilm_policy_body",
    "install_templates",
    "make_client",
    "make_sync_client",
]


def _client_options(
    settings: ElasticsearchSettings, request_timeout: float, max_retries: int, extra: dict[str, Any]
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "request_timeout": request_timeout,
        "max_retries": max_retries,
        "retry_on_timeout": max_retries > 0,
    }
    if settings.es_api_key is not None:
        options["api_key"] = settings.es_api_key.get_secret_value()
    if settings.es_username is not None and settings.es_password is not None:
        options["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    if settings.es_ca_certs is not None:
        options["ca_certs"] = str(settings.es_ca_certs)
    options.update(extra)
    return options


def make_client(
    settings: ElasticsearchSettings,
    *,
    request_timeout: float = 30.0,
    max_retries: int = 0,
    **kwargs: Any,
) -> AsyncElasticsearch:
    """An ``AsyncElasticsearch`` for ``settings`` (auth, TLS); the caller closes it.

    ``max_retries`` defaults to 0 because every caller has its own policy: the shipper
    retries per bulk item, the API answers 503 rather than make a user wait.
    """
    options = _client_options(settings, request_timeout, max_retries, kwargs)
    return AsyncElasticsearch(list(settings.es_url), **options)


def make_sync_client(
    settings: ElasticsearchSettings,
    *,
    request_timeout: float = 30.0,
    max_retries: int = 0,
    **kwargs: Any,
) -> Elasticsearch:
    """The blocking ``Elasticsearch`` counterpart of :func:`make_client`, for code that runs
    in its own thread (an OpenTelemetry span exporter); the caller closes it."""
    options = _client_options(settings, request_timeout, max_retries, kwargs)
    return Elasticsearch(list(settings.es_url), **options)


async def ilm_available(client: AsyncElasticsearch) -> bool:
    """Whether the server has index lifecycle management (the stand-in has none).

    A capability probe: a server without the feature has no such endpoint and answers
    400/404; any other failure (auth, outage) is raised to the caller.
    """
    try:
        await client.ilm.get_status()
    except (NotFoundError, ESBadRequestError):
        return False
    return True


def ilm_policy_body(delete_after_days: int) -> dict[str, Any]:
    """Delete daily indices ``delete_after_days`` after creation (no rollover: they are daily)."""
    return {
        "policy": {
            "_meta": {"managed_by": "tracelink"},
            "phases": {
                "hot": {"min_age": "0ms", "actions": {}},
                "delete": {"min_age": f"{delete_after_days}d", "actions": {"delete": {}}},
            },
        }
    }


@dataclass
class InstallReport:
    """What :func:`install_templates` did; ``notes`` are for the operator's eyes."""

    templates: list[str] = field(default_factory=list)
    ilm_policy: str | None = None
    ilm_supported: bool = True
    notes: list[str] = field(default_factory=list)


async def install_templates(
    client: AsyncElasticsearch,
    settings: ElasticsearchSettings,
    *,
    retention_days: int | None = 30,
) -> InstallReport:
    """Install (or update in place) the log and dead-letter index templates.

    Idempotent: ``PUT`` of the same body is a no-op for the cluster. Where the server has ILM
    and ``retention_days`` is set, a delete-after-N-days policy is installed and referenced by
    both templates; where it has none (the embedded stand-in), the report says so and indices
    are kept until deleted by hand. Existing indices keep their mapping; the template applies
    from the next daily index on.
    """
    report = InstallReport()
    policy: str | None = None
    if retention_days is not None:
        if await ilm_available(client):
            policy = f"{settings.log_index_prefix}-retention"
            await client.ilm.put_lifecycle(
                name=policy, policy=ilm_policy_body(retention_days)["policy"]
            )
            report.ilm_policy = policy
        else:
            report.ilm_supported = False
            report.notes.append(
                "this Elasticsearch has no ILM API: no retention policy installed, "
                "old daily indices must be deleted by hand"
            )
    for prefix, body in (
        (
            settings.log_index_prefix,
            log_index_template(settings.log_index_prefix, ilm_policy=policy),
        ),
        (
            settings.dlq_index_prefix,
            dlq_index_template(settings.dlq_index_prefix, ilm_policy=policy),
        ),
    ):
        name = template_name(prefix)
        await client.indices.put_index_template(name=name, **body)
        report.templates.append(name)
    return report
