"""Command line for the flow scripts: validate first, run the flow, one-line errors (exit 2)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

from alchemi_core.cli import _Parser, setup_logging
from alchemi_core.errors import AlchemiError, UserError
from alchemi_core.secrets import redact_uri
from flows import report


class _NoUserErrorTracebacks(logging.Filter):
    """Prefect logs a failed task with its traceback; a user error needs only its one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_user_errors() -> None:
    for handler in logging.getLogger("prefect").handlers:
        handler.addFilter(_NoUserErrorTracebacks())


def main(
    description: str,
    check: Callable[[str], Any],
    run: Callable[..., dict],
    argv=None,
    title: str = "flow",
) -> int:
    """`check(config)` validates the file before Prefect starts; `run(config=, refresh=)`.

    Ends with a short summary (metrics, files, how to open the UIs); `--json` prints the whole
    result instead.
    """
    p = _Parser(description=description)
    p.add_argument("--config", required=True, help="the YAML file")
    p.add_argument(
        "--refresh", action="store_true", help="ignore cached results: re-run every step"
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="debug log lines")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    try:
        args = p.parse_args(argv)
        setup_logging(args.verbose, args.quiet)
        check(args.config)
        quiet_user_errors()
        start = time.perf_counter()
        # A first ephemeral start builds its database: slow on a busy machine.
        with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 180}):
            result = run(config=args.config, refresh=args.refresh)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print(report.text(title, result, time.perf_counter() - start))
        return 0
    except AlchemiError as exc:  # the same lines and exit codes as the `alchemi` command
        user = isinstance(exc, UserError)
        print(f"error: {exc.line() if user else redact_uri(str(exc))}", file=sys.stderr)
        return 2 if user else 1
