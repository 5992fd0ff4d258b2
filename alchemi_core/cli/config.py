"""`alchemi config validate FILE...` and `alchemi config show FILE [--set k=v ...]`."""

from __future__ import annotations

import argparse


def _kind(path: str, name: str | None):
    from alchemi_core.config.kinds import get_kind, kind_of

    return get_kind(name) if name else kind_of(path)


def _validate(args: argparse.Namespace) -> int:
    from alchemi_core.boundary import guard
    from alchemi_core.config.preflight import preflight

    worst = 0
    for path in args.files:

        def check(path=path) -> int:
            kind, _ = preflight(path, args.kind, args.set)
            print(f"ok: {path} ({kind.name})")
            return 0

        worst = max(worst, guard(check, source=path, verbose=args.verbose))
    return worst


def _show(args: argparse.Namespace) -> int:
    import yaml

    kind = _kind(args.file, args.kind)
    loaded = kind.load(args.file, args.set)
    view = kind.show(loaded) if kind.show is not None else loaded
    print(yaml.safe_dump(view, sort_keys=False), end="")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", help="the config kind, when neither folder nor keys tell it")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )


def register(sub) -> None:
    group = sub.add_parser("config", help="check or print config files (every kind)")
    cmds = group.add_subparsers(dest="config_command", required=True, parser_class=type(group))
    v = cmds.add_parser(
        "validate",
        help="deep check: classes, params, data files and columns (reads headers only); "
        "trains nothing",
    )
    v.add_argument("files", nargs="+", metavar="FILE")
    _common(v)
    v.set_defaults(func=_validate)
    s = cmds.add_parser("show", help="print the resolved config, defaults filled, secrets masked")
    s.add_argument("file", metavar="FILE")
    _common(s)
    s.set_defaults(func=_show)
