"""``python -m kibana [--check]``: rewrite (or verify) the committed default renderings.

``kibana/saved_objects.ndjson`` and ``kibana/jaeger-ui-config.json`` are generated from
:mod:`kibana.objects` and :mod:`kibana.jaeger_ui` with the default settings; the test suite
fails when they drift from a fresh rendering.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from kibana.jaeger_ui import render_jaeger_ui_config, to_json
from kibana.objects import render_saved_objects, to_ndjson

HERE = Path(__file__).resolve().parent
RENDERINGS: dict[Path, Callable[[], str]] = {
    HERE / "saved_objects.ndjson": lambda: to_ndjson(render_saved_objects()),
    HERE / "jaeger-ui-config.json": lambda: to_json(render_jaeger_ui_config()),
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, render in RENDERINGS.items():
        text = render()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        sys.stderr.write(f"{'stale' if check else 'rewrote'}: {path}\n")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
