from __future__ import annotations

from tracelink.elasticsearch import install_templates, make_client
from tracelink.settings import ElasticsearchSettings, load_settings


async def test_install_is_idempotent_and_reports_ilm(es_url: str, index_prefix: str) -> None:
    settings = load_settings(
        ElasticsearchSettings,
        es_url=es_url,
        log_index_prefix=f"{index_prefix}-logs",
        dlq_index_prefix=f"{index_prefix}-dlq",
    )
    client = make_client(settings)
    try:
        first = await install_templates(client, settings, retention_days=7)
        second = await install_templates(client, settings, retention_days=7)
        assert (
            first.templates == second.templates == [f"{index_prefix}-logs", f"{index_prefix}-dlq"]
        )
        if first.ilm_supported:
            assert first.ilm_policy == f"{index_prefix}-logs-retention"
        else:
            assert first.ilm_policy is None
            assert "no ILM" in first.notes[0]
        stored = await client.indices.get_index_template(name=f"{index_prefix}-logs")
        mapping = stored["index_templates"][0]["index_template"]["template"]["mappings"]
        assert mapping["properties"]["trace"]["properties"]["id"]["type"] == "keyword"
        # A new daily index picks the template up.
        await client.index(
            index=f"{index_prefix}-logs-2026-11-22",
            document={"@timestamp": "2026-11-22T10:00:00.123456Z", "trace": {"id": "ab"}},
            refresh=True,
        )
        index_mapping = await client.indices.get_mapping(index=f"{index_prefix}-logs-2026-11-22")
        props = index_mapping[f"{index_prefix}-logs-2026-11-22"]["mappings"]["properties"]
        assert props["message"]["type"] == "match_only_text"
    finally:
        await client.close()
