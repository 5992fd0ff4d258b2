"""Command line for the flow scripts: validate first, run the flow, one-line errors (exit 2)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    PREFECT_UI_URL,
    get_current_settings,
    temporary_settings,
)

from alchemi_core.boundary import guard
from alchemi_core.cli.main import _Parser, setup_logging
from alchemi_core.errors import UserError
from flows import local_api, report


class _NoUserErrorTracebacks(logging.Filter):
    """Prefect logs a failed task with its traceback; a user error needs only its one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_user_errors() -> None:
    for handler in logging.getLogger("prefect").handlers:
        handler.addFilter(_NoUserErrorTracebacks())


FROM_CACHE = (
    "nothing changed: every step's result was read from the step cache; no Prefect flow run "
    "was recorded (--record runs the flow anyway)"
)


def local_settings() -> dict:
    """Prefect settings for a flow run from this command line. A first ephemeral start builds
    its database (slow on a busy machine). The temporary API (no PREFECT_API_URL) stops with
    this process: nothing can watch heartbeats, whose thread holds up a flow's end by up to 1 s,
    and its server sends no telemetry (no network)."""
    updates: dict = {PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 180}
    if not PREFECT_API_URL.value():
        updates |= {
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
            PREFECT_SERVER_ANALYTICS_ENABLED: False,
        }
    return updates


@contextmanager
def temporary_api() -> Iterator[None]:
    """Without an API URL: Prefect's temporary API, started by flows/local_api.py. It stops
    with this process, so Prefect's "View at <link>" lines are turned off (no UI listens there
    afterwards) unless PREFECT_UI_URL is set; the summary says how to see the run
    (`prefect server start`, the same store)."""
    api = None
    if not PREFECT_API_URL.value() and PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        env = get_current_settings().to_environment_variables(exclude_unset=True)
        api = local_api.start(env, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    ui = get_current_settings().ui_url or ""  # set by the user, else no links
    if api is None and PREFECT_API_URL.value():  # a server that stays up: its links hold
        yield
    elif api is None:  # Prefect starts its own temporary API: no links either
        with temporary_settings({PREFECT_UI_URL: ui}):
            yield
    else:
        with temporary_settings({PREFECT_API_URL: api.url, PREFECT_UI_URL: ui}):
            yield


def main(
    description: str,
    check: Callable[[str], Any],
    run: Callable[..., dict],
    argv=None,
    title: str = "flow",
    cached: Callable[[str], dict | None] | None = None,
) -> int:
    """`check(config)` validates the file before Prefect starts; `run(config=, refresh=)`.
    `cached(config)`, if given, answers a re-run where nothing changed (None: run the flow).

    Ends with a short summary (metrics, files, how to open the UIs); `--json` prints the whole
    result instead.
    """
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
    argv = sys.argv[1:] if argv is None else list(argv)
    seen: dict[str, str] = {}

    def go() -> int:
        args = p.parse_args(argv)
        seen["config"] = args.config
        setup_logging(args.verbose, args.quiet)
        check(args.config)
        quiet_user_errors()
        start = time.perf_counter()
        fast = cached and not (args.refresh or args.record)
        result = cached(args.config) if fast else None
        if result is None:
            with temporary_settings(local_settings()), temporary_api():
                result = run(config=args.config, refresh=args.refresh)
        else:
            print(FROM_CACHE, file=sys.stderr if args.json else sys.stdout)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print(report.text(title, result, time.perf_counter() - start))
        return 0

    verbose = "-v" in argv or "--verbose" in argv
    return guard(go, source=lambda: seen.get("config"), verbose=verbose)  # as `alchemi` does
