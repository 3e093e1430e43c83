"""The ``tracelink`` console script: ``setup``, ``ship``, ``serve``, ``dev``, ``demo``.

Each subcommand lives with the component it runs and exposes two functions:
``configure_parser(parser)`` (cheap: no heavy imports) and ``run(args) -> int``. This module
only dispatches, turns :class:`~tracelink.settings.ConfigError` into one line and exit 2,
and keeps start-up fast by importing a component only when its command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from tracelink import __version__
from tracelink.errors import ConfigError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from tracelink.settings import TracelinkSettings

__all__ = ["EXIT_CONFIG", "add_settings_flags", "main", "settings_overrides"]

EXIT_CONFIG = 2


class _Command(Protocol):
    def configure_parser(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class _Subcommand:
    name: str
    module: str
    help: str
    # What `pip install` needs beyond the base install (which is logging_ext's only).
    extra: str = "server"


# Order is the order `tracelink --help` lists them in.
_SUBCOMMANDS: tuple[_Subcommand, ...] = (
    _Subcommand("ship", "shipper.cli", "index the Kafka log topic into Elasticsearch"),
    _Subcommand(
        "setup",
        "kibana.cli",
        "install the index templates (and ILM policy); with --kibana-url, the Kibana objects",
    ),
    _Subcommand("serve", "correlate.cli", "run the correlate API (uvicorn)"),
    _Subcommand(
        "dev",
        "devstack.dev_command",
        "run the embedded stack (Kafka and Elasticsearch stand-ins, setup, shipper, API)",
        extra="server,standins",
    ),
    _Subcommand(
        "demo",
        "devstack.demo_command",
        "the dev stack plus the demo shop: replay a lost-order incident and show its trace",
        extra="demo",
    ),
)

# tracelink's own packages: a missing module among them is a bug, not a missing extra.
_OWN_PACKAGES = frozenset(
    {"tracelink", "logging_ext", "shipper", "correlate", "kibana", "devstack"}
)


@dataclass(frozen=True)
class _NotInstalled:
    """A subcommand whose dependencies are not installed: says which extra brings them."""

    spec: _Subcommand
    missing: str

    def configure_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(self, args: argparse.Namespace) -> int:
        print(
            f"tracelink {self.spec.name}: not installed (no module {self.missing!r}); "
            f"install it with: pip install 'tracelink[{self.spec.extra}]'",
            file=sys.stderr,
        )
        return EXIT_CONFIG


def _load(spec: _Subcommand) -> _Command:
    try:
        return cast(_Command, importlib.import_module(spec.module))
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.partition(".")[0] in _OWN_PACKAGES:
            raise
        return _NotInstalled(spec, missing)


def add_settings_flags(
    parser: argparse.ArgumentParser,
    settings_cls: type[TracelinkSettings],
    *,
    exclude: Sequence[str] = (),
) -> None:
    """Add one ``--field-name`` flag per settings field, mirroring ``TRACELINK_FIELD_NAME``.

    Secret fields get no flag. Flags default to ``None`` (= not given) so that the
    environment applies unless a flag is passed; :func:`settings_overrides` collects the
    given ones.
    """
    from tracelink.settings import env_name

    group = parser.add_argument_group(f"{settings_cls.__name__} (flags win over environment)")
    for name, info in settings_cls.model_fields.items():
        # Secrets come from the environment only: a flag would show in the process list.
        if name in exclude or "SecretStr" in str(info.annotation):
            continue
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            default=None,
            metavar=_metavar(info),
            help=f"{info.description or name} [env {env_name(name)}]",
        )


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags that were given on the command line, by field name."""
    return {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }


def _metavar(info: FieldInfo) -> str:
    annotation = str(info.annotation)
    if "list" in annotation:
        return "A,B"
    if "int" in annotation:
        return "N"
    return "VALUE"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracelink",
        description="Log–trace correlation: ship ECS logs from Kafka into Elasticsearch and "
        "join them with Jaeger's spans.",
    )
    parser.add_argument("--version", action="version", version=f"tracelink {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for spec in _SUBCOMMANDS:
        command = _load(spec)
        sub_parser = sub.add_parser(spec.name, help=spec.help, description=spec.help)
        command.configure_parser(sub_parser)
        sub_parser.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = cast("_Command | None", getattr(args, "_command", None))
    if command is None:
        parser.print_help()
        return 0
    try:
        return command.run(args)
    except ConfigError as exc:
        print(f"tracelink {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
