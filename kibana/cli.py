"""``tracelink setup``: install what tracelink needs in Elasticsearch and, optionally, Kibana.

Idempotent, safe to run on every deploy:

1. Elasticsearch: the log and dead-letter index templates, and the retention ILM policy where
   the server has ILM. Each template is reported as created, updated or unchanged.
2. With ``--kibana-url``: wait until that Kibana reports ``available``, import the saved
   objects (rendered for the configured index prefixes and link URLs) with overwrite, and
   check every object's result. Fixed ids: re-importing replaces, never duplicates.
3. With ``--output-dir``: also write the rendered ``saved_objects.ndjson`` and
   ``jaeger-ui-config.json`` there, for a manual import or for Jaeger's query service.

Exit 0 when everything succeeded, 1 with the reason on stderr when something failed, 2 on
bad configuration. Credentials are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelink.cli import add_settings_flags, settings_overrides

if TYPE_CHECKING:
    from kibana.settings import SetupSettings

__all__ = ["configure_parser", "run"]

_ES_WAIT_SECONDS = 60.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from kibana.settings import SetupSettings

    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="also write the rendered saved_objects.ndjson and jaeger-ui-config.json to DIR",
    )
    add_settings_flags(parser, SetupSettings)
    for action in parser._actions:
        if action.dest == "setting_kibana_url":
            action.help = (
                "import the saved objects into this Kibana (waiting until it is available); "
                "also the Kibana base URL for links [env TRACELINK_KIBANA_URL: links only]"
            )
    parser.epilog = (
        "The saved objects are imported only when --kibana-url is given on the command line "
        "(TRACELINK_KIBANA_URL alone sets the Kibana base URL used in links)."
    )


def run(args: argparse.Namespace) -> int:
    from kibana.settings import SetupSettings
    from tracelink.settings import load_settings

    overrides = settings_overrides(args)
    settings = load_settings(SetupSettings, **overrides)
    import_into_kibana = "kibana_url" in overrides
    try:
        asyncio.run(_setup(settings, import_into_kibana, args.output_dir))
    except SetupError as exc:
        print(f"tracelink setup: failed: {exc}", file=sys.stderr)
        return 1
    return 0


class SetupError(Exception):
    """A step failed; ``str()`` is the reason for the operator (never a credential)."""


def _say(message: str) -> None:
    print(message, flush=True)


async def _setup(
    settings: SetupSettings, import_into_kibana: bool, output_dir: Path | None
) -> None:
    from kibana.objects import RenderOptions, render_saved_objects, to_ndjson

    await _install_elasticsearch(settings)
    objects = render_saved_objects(RenderOptions.from_settings(settings))
    if output_dir is not None:
        _write_renderings(settings, objects, output_dir)
    if import_into_kibana:
        await _import_into_kibana(settings, to_ndjson(objects), objects)


async def _install_elasticsearch(settings: SetupSettings) -> None:
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from kibana.client import display_url
    from tracelink.elasticsearch import install_templates, make_client

    client = make_client(settings)
    where = ", ".join(display_url(url) for url in settings.es_url)
    try:
        version = await _wait_for_elasticsearch(client, where)
        _say(f"Elasticsearch {where} ({version})")
        names = [settings.log_index_prefix, settings.dlq_index_prefix]
        before = {name: await _stored_template(client, name) for name in names}
        report = await install_templates(
            client, settings, retention_days=settings.retention_days or None
        )
        for name in report.templates:
            after = await _stored_template(client, name)
            change = (
                "created"
                if before.get(name) is None
                else "unchanged"
                if before.get(name) == after
                else "updated"
            )
            patterns = ", ".join((after or {}).get("index_patterns", []))
            _say(f"  index template {name} ({patterns}): {change}")
        if report.ilm_policy:
            _say(
                f"  retention: ILM policy {report.ilm_policy} deletes indices "
                f"{settings.retention_days} days after creation"
            )
        elif not settings.retention_days:
            _say("  retention: none (TRACELINK_RETENTION_DAYS=0): indices are kept")
        for note in report.notes:
            _say(f"  note: {note}")
    except ApiError as exc:
        raise SetupError(f"Elasticsearch {where}: {exc.meta.status} {exc.message}") from None
    except TransportError as exc:
        raise SetupError(f"Elasticsearch {where}: {exc.message}") from None
    finally:
        await client.close()


async def _wait_for_elasticsearch(client: Any, where: str) -> str:
    """Elasticsearch's version, once it answers; it may still be starting (compose, dev)."""
    from elastic_transport import ConnectionError as ESConnectionError
    from elastic_transport import ConnectionTimeout

    deadline = time.monotonic() + _ES_WAIT_SECONDS
    while True:
        try:
            info = await client.info()
        except (ESConnectionError, ConnectionTimeout) as exc:
            if time.monotonic() > deadline:
                raise SetupError(
                    f"Elasticsearch {where} unreachable for {_ES_WAIT_SECONDS:g} s: {exc.message}"
                ) from None
            await asyncio.sleep(2.0)
        else:
            return f"version {info['version']['number']}"


async def _stored_template(client: Any, name: str) -> dict[str, Any] | None:
    from elasticsearch import NotFoundError

    try:
        response = await client.indices.get_index_template(name=name)
    except NotFoundError:
        return None
    for entry in response.get("index_templates", []):
        if entry.get("name") == name:
            return dict(entry["index_template"])
    return None


def _write_renderings(
    settings: SetupSettings, objects: list[dict[str, Any]], output_dir: Path
) -> None:
    from kibana.jaeger_ui import render_jaeger_ui_config, to_json
    from kibana.objects import RenderOptions, to_ndjson

    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        ndjson_path = output_dir / "saved_objects.ndjson"
        ndjson_path.write_text(to_ndjson(objects), encoding="utf-8")
        jaeger_path = output_dir / "jaeger-ui-config.json"
        config = render_jaeger_ui_config(RenderOptions.from_settings(settings))
        jaeger_path.write_text(to_json(config), encoding="utf-8")
    except OSError as exc:
        raise SetupError(f"cannot write to {output_dir}: {exc.strerror or exc}") from None
    _say(f"wrote {ndjson_path} ({len(objects)} saved objects) and {jaeger_path}")


async def _import_into_kibana(
    settings: SetupSettings, ndjson: str, objects: list[dict[str, Any]]
) -> None:
    from kibana.client import KibanaClient, KibanaError, KibanaStatus, display_url
    from kibana.objects import DASHBOARD_ID

    where = display_url(settings.kibana_url)
    space = settings.kibana_space or "default"
    _say(f"Kibana {where}: waiting until it reports 'available' …")

    def progress(status: KibanaStatus) -> None:
        _say(f"  status: {status.level or 'not ready'} ({status.summary})")

    try:
        async with KibanaClient(
            settings.kibana_url,
            authorization=settings.kibana_authorization(),
            ca_certs=settings.kibana_ca_certs,
            space=settings.kibana_space,
        ) as kibana:
            status = await kibana.wait_until_available(
                settings.kibana_wait_seconds, on_change=progress
            )
            _check_version(status.version)
            outcome = await kibana.import_saved_objects(
                ndjson, expected=[(obj["type"], obj["id"]) for obj in objects]
            )
    except KibanaError as exc:
        raise SetupError(str(exc)) from None
    _say(
        f"  imported {len(objects)} saved objects into the {space} space "
        f"({len(outcome.created)} created, {len(outcome.overwritten)} replaced)"
    )
    for warning in outcome.warnings:
        _say(f"  Kibana warning: {warning}")
    space_path = f"/s/{settings.kibana_space}" if settings.kibana_space else ""
    _say(f"  dashboard: {where}{space_path}/app/dashboards#/view/{DASHBOARD_ID}")


def _check_version(version: str | None) -> None:
    if version is None:
        return
    major = version.split(".", 1)[0]
    if major.isdigit() and int(major) < 8:
        raise SetupError(f"Kibana {version} is too old: the saved objects need Kibana 8.0 or later")
