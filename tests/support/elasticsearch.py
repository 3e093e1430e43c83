"""Clean-up helpers for tests that write to Elasticsearch."""

from __future__ import annotations

import httpx


def delete_prefixed(es_url: str, prefix: str) -> None:
    """Delete every index and index template whose name starts with ``prefix``.

    The stand-in scans every index on every search: leaving data behind slows the suite.
    Indices are deleted by name: Elasticsearch 8 refuses wildcard deletes
    (``destructive_requires_name``).
    """
    with httpx.Client(base_url=es_url, timeout=10) as client:
        listing = client.get(
            f"/_cat/indices/{prefix}*", params={"format": "json", "expand_wildcards": "all"}
        )
        names = [row["index"] for row in listing.json()] if listing.status_code == 200 else []
        if names:
            client.delete("/" + ",".join(names), params={"ignore_unavailable": "true"})
        templates = client.get("/_index_template").json().get("index_templates", [])
        for template in templates:
            if template["name"].startswith(prefix):
                client.delete(f"/_index_template/{template['name']}")
