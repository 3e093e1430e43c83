"""The Kibana saved objects: well-formed, self-contained, portable, and using real fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kibana.objects import (
    DASHBOARD_ID,
    DLQ_DATA_VIEW_ID,
    JAEGER_SPAN_FIELDS,
    LOG_DATA_VIEW_ID,
    SPAN_DATA_VIEW_ID,
    RenderOptions,
    render_saved_objects,
    to_ndjson,
)
from tests.support.kibana_fields import (
    data_view_of,
    fields_used,
    mapping_fields,
    runtime_fields,
)
from tracelink.layout import DLQ_FIELDS, LOG_FIELDS, dlq_index_template, log_index_template

KIBANA_DIR = Path(__file__).resolve().parents[3] / "kibana"
COMMITTED = KIBANA_DIR / "saved_objects.ndjson"

CUSTOM = RenderOptions(
    jaeger_ui_url="https://jaeger.example.com/ui/",
    api_public_url="https://tracelink.example.com",
    kibana_url="https://kibana.example.com",
    log_index_prefix="prod-logs",
    dlq_index_prefix="prod-dead",
    jaeger_index_prefix="prod",
)


@pytest.fixture(scope="module")
def committed() -> list[dict[str, Any]]:
    lines = COMMITTED.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in objects}


def test_committed_rendering_matches_a_fresh_rendering() -> None:
    # `python -m kibana` rewrites the file; a mismatch means the code changed without it.
    assert COMMITTED.read_text(encoding="utf-8") == to_ndjson(render_saved_objects())


def test_every_line_is_one_json_object(committed: list[dict[str, Any]]) -> None:
    raw = [line for line in COMMITTED.read_text(encoding="utf-8").split("\n") if line]
    assert len(raw) == len(committed) >= 12
    for obj in committed:
        assert set(obj) >= {"attributes", "id", "references", "type"}
        assert obj["attributes"]["title"]


def test_ids_are_unique_and_stable(committed: list[dict[str, Any]]) -> None:
    keys = [(obj["type"], obj["id"]) for obj in committed]
    assert len(keys) == len(set(keys))
    assert len({obj["id"] for obj in committed}) == len(committed)
    ids = {obj["id"] for obj in committed}
    assert {LOG_DATA_VIEW_ID, SPAN_DATA_VIEW_ID, DLQ_DATA_VIEW_ID, DASHBOARD_ID} <= ids
    assert all(obj_id.startswith("tracelink-") for obj_id in ids)
    # Ids do not depend on the deployment: re-importing elsewhere replaces, never duplicates.
    assert [o["id"] for o in render_saved_objects(CUSTOM)] == [o["id"] for o in committed]


def test_every_reference_resolves_within_the_set(committed: list[dict[str, Any]]) -> None:
    present = {(obj["type"], obj["id"]) for obj in committed}
    for obj in committed:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, (obj["id"], ref)
    # Referenced objects come first, so a reader (or a partial import) never meets a dangling one.
    seen: set[tuple[str, str]] = set()
    for obj in committed:
        assert all((r["type"], r["id"]) in seen for r in obj["references"]), obj["id"]
        seen.add((obj["type"], obj["id"]))


def test_reference_names_match_what_the_attributes_point_at(
    committed: list[dict[str, Any]],
) -> None:
    for obj in committed:
        names = {ref["name"] for ref in obj["references"]}
        attributes = obj["attributes"]
        if obj["type"] == "search":
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert source["indexRefName"] in names
        elif obj["type"] == "visualization":
            params = json.loads(attributes["visState"])["params"]
            assert params["index_pattern_ref_name"] in names
        elif obj["type"] == "dashboard":
            for panel in json.loads(attributes["panelsJSON"]):
                assert f"{panel['panelIndex']}:{panel['panelRefName']}" in names


def test_json_string_attributes_are_valid_json(committed: list[dict[str, Any]]) -> None:
    for obj in committed:
        attributes = obj["attributes"]
        for key in (
            "fieldAttrs",
            "fieldFormatMap",
            "fields",
            "runtimeFieldMap",
            "sourceFilters",
            "typeMeta",
            "visState",
            "uiStateJSON",
            "panelsJSON",
            "optionsJSON",
        ):
            if key in attributes:
                json.loads(attributes[key])
        meta = attributes.get("kibanaSavedObjectMeta")
        if meta is not None:
            source = json.loads(meta["searchSourceJSON"])
            assert source["query"]["language"] == "kuery"
            assert isinstance(source["filter"], list)


def test_version_fields_are_importable_by_kibana_8_0_and_later(
    committed: list[dict[str, Any]],
) -> None:
    for obj in committed:
        # A core version newer than the running Kibana is rejected (8.0 rejects 8.8.0).
        assert "coreMigrationVersion" not in obj
        assert "typeMigrationVersion" not in obj
        declared = obj["migrationVersion"]
        assert list(declared) == [obj["type"]]
        major, minor, _patch = (int(part) for part in declared[obj["type"]].split("."))
        assert (major, minor) <= (8, 0)
    for panel in json.loads(_by_id(committed)[DASHBOARD_ID]["attributes"]["panelsJSON"]):
        assert tuple(int(p) for p in panel["version"].split(".")) <= (8, 0, 0)


def _available_fields() -> dict[str, set[str]]:
    log_props = log_index_template("x")["template"]["mappings"]["properties"]
    dlq_props = dlq_index_template("x")["template"]["mappings"]["properties"]
    return {
        LOG_DATA_VIEW_ID: mapping_fields(log_props),
        DLQ_DATA_VIEW_ID: mapping_fields(dlq_props),
        SPAN_DATA_VIEW_ID: set(JAEGER_SPAN_FIELDS),
    }


def test_every_field_used_exists_in_our_templates_or_the_span_fields(
    committed: list[dict[str, Any]],
) -> None:
    available = _available_fields()
    objects = _by_id(committed)
    used_somewhere = 0
    for obj in committed:
        view = data_view_of(obj)
        if view is None:
            continue
        runtime = runtime_fields(objects[view])
        for where, name in fields_used(obj):
            used_somewhere += 1
            if where == "runtime field script":
                assert name in available[view], (obj["id"], where, name)
            else:
                assert name in available[view] | runtime, (obj["id"], where, name)
    assert used_somewhere > 40


def test_log_fields_come_from_the_shared_layout(committed: list[dict[str, Any]]) -> None:
    """The objects read what the shipper writes: names from LOG_FIELDS / DLQ_FIELDS."""
    known = set(LOG_FIELDS.values()) | set(DLQ_FIELDS.values())
    objects = _by_id(committed)
    for obj in committed:
        view = data_view_of(obj)
        if view in (LOG_DATA_VIEW_ID, DLQ_DATA_VIEW_ID):
            runtime = runtime_fields(objects[view])
            for where, name in fields_used(obj):
                assert name in known | runtime, (obj["id"], where, name)


def test_span_fields_exist_in_jaegers_own_mappings(shared_reference: Path) -> None:
    """JAEGER_SPAN_FIELDS against Jaeger's span templates (v1.76 ES 8 and v2.20 ES 8/9)."""
    v1 = json.loads((shared_reference / "jaeger" / "jaeger-span-8.json").read_text())
    v2 = json.loads((shared_reference / "jaeger" / "span.es8-9.json").read_text())
    for template in (v1["template"], v2["body"]["template"]):
        fields = mapping_fields(template["mappings"]["properties"])
        assert set(JAEGER_SPAN_FIELDS) <= fields
        assert template["mappings"]["properties"]["startTimeMillis"]["type"] == "date"


def test_span_fields_exist_in_the_reference_documents(shared_reference: Path) -> None:
    """Every era's span document has the fields the span data view uses."""
    for name in ("es_01.json", "es_01_string_tags.json", "v1/es_01.json"):
        doc = json.loads((shared_reference / "jaeger" / name).read_text())
        for field in JAEGER_SPAN_FIELDS:
            value: Any = doc
            for part in field.split("."):
                value = value[part]
            assert value is not None


def test_data_views_follow_the_configured_prefixes() -> None:
    objects = _by_id(render_saved_objects(CUSTOM))
    assert objects[LOG_DATA_VIEW_ID]["attributes"]["title"] == "prod-logs-*"
    assert objects[DLQ_DATA_VIEW_ID]["attributes"]["title"] == "prod-dead-*"
    assert objects[SPAN_DATA_VIEW_ID]["attributes"]["title"] == "prod-jaeger-span-*"
    default = _by_id(render_saved_objects())
    assert default[SPAN_DATA_VIEW_ID]["attributes"]["title"] == "jaeger-span-*"
    assert default[LOG_DATA_VIEW_ID]["attributes"]["timeFieldName"] == "@timestamp"
    assert default[SPAN_DATA_VIEW_ID]["attributes"]["timeFieldName"] == "startTimeMillis"


def test_link_urls_follow_the_configured_base_urls() -> None:
    views = _by_id(render_saved_objects(CUSTOM))
    formats = json.loads(views[LOG_DATA_VIEW_ID]["attributes"]["fieldFormatMap"])
    assert formats["trace.id"]["params"]["urlTemplate"] == (
        "https://jaeger.example.com/ui/trace/{{value}}"
    )
    assert formats["tracelink.links.correlate"]["params"]["urlTemplate"] == (
        "https://tracelink.example.com/correlate/{{value}}/view"
    )
    assert formats["tracelink.links.span"]["params"]["urlTemplate"] == (
        "https://tracelink.example.com/correlate/{{rawValue}}"
    )
    # Nothing from the default URLs leaks into a custom rendering.
    text = to_ndjson(views.values())
    assert "localhost" not in text


def test_span_link_runtime_field_builds_the_correlate_path() -> None:
    view = _by_id(render_saved_objects())[LOG_DATA_VIEW_ID]
    script = json.loads(view["attributes"]["runtimeFieldMap"])["tracelink.links.span"]
    assert "'/view#span-'" in script["script"]["source"]


def test_dashboard_has_the_correlation_health_panels(committed: list[dict[str, Any]]) -> None:
    objects = _by_id(committed)
    dashboard = objects[DASHBOARD_ID]
    assert dashboard["attributes"]["title"] == "Correlation health"
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    targets = {ref["name"].split(":")[0]: ref["id"] for ref in dashboard["references"]}
    kinds = [objects[targets[p["panelIndex"]]]["type"] for p in panels]
    assert kinds.count("visualization") == 3
    assert kinds.count("search") == 2
    visualizations = [
        json.loads(objects[targets[p["panelIndex"]]]["attributes"]["visState"])
        for p in panels
        if p["type"] == "visualization"
    ]
    share = next(v for v in visualizations if "share" in v["title"])
    metric = share["params"]["series"][0]["metrics"][0]
    assert metric["type"] == "filter_ratio"
    assert metric["numerator"]["query"] == "trace.id:*"
    assert share["params"]["series"][0]["terms_field"] == "service.name"
    assert all(v["type"] == "metrics" for v in visualizations)
    # Panels do not overlap on Kibana's 48-column grid.
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridData"]
        assert grid["x"] + grid["w"] <= 48
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area
        cells |= area


def test_saved_searches_cover_the_questions_people_ask(committed: list[dict[str, Any]]) -> None:
    queries = {
        obj["id"]: json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])[
            "query"
        ]["query"]
        for obj in committed
        if obj["type"] == "search"
    }
    assert queries["tracelink-logs-of-one-trace"].startswith('trace.id:"')
    assert "trace.id:*" in queries["tracelink-error-logs-with-trace"]
    assert "log.level:(error" in queries["tracelink-error-logs-with-trace"]
    assert queries["tracelink-logs-without-trace"] == "not trace.id:*"
    assert queries["tracelink-unsampled-traffic"] == "trace.sampled:false"
    dead = next(o for o in committed if o["id"] == "tracelink-dead-letters")
    assert data_view_of(dead) == DLQ_DATA_VIEW_ID
