"""A flow script's command line up to its pre-flight, without Prefect.

Each flow script (flows/*.py) defines its `main` with `command` before it imports Prefect or
tasks/, and runs it from there: a bad config or a missing input fails with one line and exit 2
(the pre-flight of `alchemi config validate`, under the one error boundary) without paying for
the Prefect import. Only then is the rest of the script loaded and its flow run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from alchemi_core.boundary import guard
from alchemi_core.cli.main import _Parser, setup_logging
from alchemi_core.run import stop


def parser(description: str, cached: bool) -> argparse.ArgumentParser:
    p = _Parser(description=description)
    p.add_argument("--config", required=True, help="the YAML file")
    p.add_argument(
        "--refresh", action="store_true", help="ignore cached results: re-run every step"
    )
    if cached:
        p.add_argument(
            "--record",
            action="store_true",
            help="run the flow in Prefect even when every step is cached",
        )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="debug log lines")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def command(
    doc: str,
    check: str | Callable[[str], Any],
    then: str | Callable[[argparse.Namespace, Any], int],
    argv: list[str] | None = None,
    cached: bool = False,
) -> int:
    """Parse `argv`, set up logging, `check(args.config)` (a config kind's pre-flight, by name),
    then `then(args, loaded)` ("module:function", imported only now), all under `guard`."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    p = parser(doc.strip().splitlines()[0], cached)
    seen: dict[str, str] = {}

    def go() -> int:
        args = p.parse_args(argv)
        seen["config"] = args.config
        setup_logging(args.verbose, args.quiet)
        loaded = resolve(check)(args.config)
        return resolve(then)(args, loaded)

    verbose = "-v" in argv or "--verbose" in argv
    with stop.handling():  # as `alchemi` does; flows/cli.py keeps SIGTERM for it in the flow
        return guard(go, source=lambda: seen.get("config"), verbose=verbose)


def resolve(fn: str | Callable) -> Callable:
    """A callable, a config kind's check ("pipeline") or a "module:function" imported now."""
    if callable(fn):
        return fn
    if ":" not in fn:
        from alchemi_core.config.preflight import checked

        return checked(fn)
    module, name = fn.split(":")
    return getattr(importlib.import_module(module), name)
