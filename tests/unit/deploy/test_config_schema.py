"""tests.support.config_schema: the key checker the deploy config tests share."""

from __future__ import annotations

from tests.support.config_schema import ANY, LEAF, Deprecated, MapOf, Node, problems

SCHEMA: dict[str, Node] = {
    "name": LEAF,
    "backends": MapOf({"url": LEAF, "extra": ANY}),
    "old": Deprecated("use new"),
    "nested": {"inner": LEAF},
}


def test_accepted_config_has_no_problems() -> None:
    config = {
        "name": "x",
        "backends": {"a": {"url": "u", "extra": {"anything": {"goes": [1]}}}, "b": None},
        "nested": None,  # an empty block: the defaults
    }
    assert problems(config, SCHEMA) == []


def test_each_kind_of_mistake_is_reported_by_its_path() -> None:
    config = {
        "name": {"not": "a value"},
        "backends": {"a": {"url": "u", "typo": 1}, "b": "not a mapping"},
        "old": False,
        "nested": {"inner": 1, "outer": 2},
        "stray": 3,
    }
    found = problems(config, SCHEMA)
    assert found == [
        "name: expected a value, found a mapping",
        "backends.a.typo: unknown key (known here: extra, url)",
        "backends.b: expected a mapping, found str",
        "old: deprecated, must not be set (use new)",
        "nested.outer: unknown key (known here: inner)",
        "stray: unknown key (known here: backends, name, nested, old)",
    ]
