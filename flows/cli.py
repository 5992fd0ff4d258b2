"""A flow script's command line after its pre-flight (flows/entry.py): run the flow in Prefect
(its temporary API when no server is set), then print its summary."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

from alchemi_core.errors import UserError
from alchemi_core.run import stop
from flows import local_api, report


class _NoUserErrorTracebacks(logging.Filter):
    """Prefect logs a failed task with its traceback; a user error or a stop on request needs
    only its one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError | stop.StopRequested):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_user_errors() -> None:
    """On Prefect's console handlers: the root logger's (where "prefect" sends) and its own."""
    for name in ("prefect", None):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _NoUserErrorTracebacks) for f in handler.filters):
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
    updates: dict = {}
    if "startup_timeout_seconds" not in get_current_settings().server.ephemeral.model_fields_set:
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = 180  # unless the user set it
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


def execute(
    args: argparse.Namespace,
    run: Callable[..., dict],
    title: str = "flow",
    cached: Callable[[str], dict | None] | None = None,
) -> int:
    """After the pre-flight (flows/entry.py): `run(config=, refresh=)` the flow, unless
    `cached(config)`, if given, answers a re-run where nothing changed (None: run the flow).

    Ends with a short summary (metrics, files, how to open the UIs); `--json` prints the whole
    result instead.
    """
    quiet_user_errors()
    start = time.perf_counter()
    fast = cached and not (args.refresh or args.record)
    result = cached(args.config) if fast else None
    if result is None:
        with temporary_settings(local_settings()), temporary_api():
            try:
                result = run(config=args.config, refresh=args.refresh)
            except RuntimeError as exc:  # Prefect's own temporary API may time out too
                seconds = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
                if (slow := local_api.start_error(exc, seconds)) is None:
                    raise
                raise slow from None
    else:
        print(FROM_CACHE, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(report.text(title, result, time.perf_counter() - start))
    return 0
