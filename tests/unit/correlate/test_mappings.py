"""_field_caps answers → how to read each index (correlate.mappings)."""

from __future__ import annotations

from correlate.mappings import SPAN_ID_FIELDS, field_caps_fields, plan_reads


def test_field_caps_asks_for_each_field_and_its_keyword_subfield() -> None:
    assert field_caps_fields(("traceID", "spanID")) == [
        "traceID",
        "traceID.keyword",
        "spanID",
        "spanID.keyword",
    ]


def test_indices_are_grouped_by_how_to_read_them() -> None:
    # The shape of Elasticsearch's answer with include_unmapped=true and mixed types.
    caps = {
        "indices": ["good", "dynamic", "bare"],
        "fields": {
            "traceID": {
                "keyword": {"type": "keyword", "indices": ["good"]},
                "text": {"type": "text", "indices": ["dynamic", "bare"]},
            },
            "traceID.keyword": {
                "keyword": {"type": "keyword", "indices": ["dynamic"]},
                "unmapped": {"type": "unmapped", "indices": ["good", "bare"]},
            },
            "spanID": {
                "keyword": {"type": "keyword", "indices": ["good"]},
                "text": {"type": "text", "indices": ["dynamic", "bare"]},
            },
            "spanID.keyword": {
                "keyword": {"type": "keyword", "indices": ["dynamic", "bare"]},
                "unmapped": {"type": "unmapped", "indices": ["good"]},
            },
        },
    }
    plan = plan_reads(caps, SPAN_ID_FIELDS, "install the template")
    assert plan.exact == ["good"]
    assert plan.via_keyword == ["dynamic"]
    assert plan.problems == [
        "index bare: field traceID is mapped as text without a keyword sub-field, so the API "
        "cannot read it exactly; install the template"
    ]
    assert plan.needs_keyword


def test_one_type_without_an_index_list_holds_for_every_index() -> None:
    caps = {
        "indices": ["a", "b"],
        "fields": {"traceID": {"keyword": {"type": "keyword"}}, "spanID": {}},
    }
    plan = plan_reads(caps, SPAN_ID_FIELDS, "")
    assert plan.exact == ["a", "b"]
    assert not plan.needs_keyword
    assert plan_reads({}, SPAN_ID_FIELDS, "").exact == []
