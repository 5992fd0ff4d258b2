# PYTHON_ARGCOMPLETE_OK
"""The `alchemi` command. Exit codes: 0 success, 2 user error, 1 internal error."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable

from alchemi_core.cli.common import (
    GROUPS,
    add_config_options,
    add_nproc_option,
    add_run_options,
    launch_ranks,
)
from alchemi_core.errors import UserError

# prepare-data's data sets (alchemi_core.tabular.prepare.DATASETS, not imported here: pandas is slow)
DATASET_NAMES = ["penguins", "diamonds", "ofp", "medexp", "txhousing", "computers", "workinghours"]


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    from alchemi_core.progress import setup_logging as setup

    setup(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UserError(message, "command line")


def _cmd_train(args: argparse.Namespace) -> int:
    from alchemi_core import api, distributed
    from alchemi_core.config.loading import load_config

    code = launch_ranks(args, ["train"], load_config)
    if code is not None:
        return code
    result = api.train(args.config, args.set, seed=args.seed, overwrite=args.overwrite)
    if distributed.is_main():
        print(json.dumps(result.to_dict(), indent=2))
    distributed.finish()
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from alchemi_core import api

    print(json.dumps(api.extract(args.config, overrides=args.set), indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from alchemi_core import api

    print(json.dumps(api.predict(args.config, overrides=args.set), indent=2))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from alchemi_core.tabular import prepare

    written = prepare.prepare(args.dataset, args.out, fmt=args.format, seed=args.seed)
    print(json.dumps(written, indent=2))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _cmd_train,
    "prepare-data": _cmd_prepare,
    "extract": _cmd_extract,
    "predict": _cmd_predict,
}


def _inference_parser(sub, name: str, what: str) -> None:
    p = sub.add_parser(name, help=f"{what} from a checkpoint, per a YAML config")
    add_config_options(p, f"{name} config YAML")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="alchemi", description="Config-driven training: VAE, SAE and more.")
    level = p.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    level.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a model from a YAML config")
    add_run_options(t, "training config YAML")
    add_nproc_option(t)
    _inference_parser(sub, "extract", "write embeddings of train/val/test")
    _inference_parser(sub, "predict", "write predictions (and metrics) for the test split")
    d = sub.add_parser("prepare-data", help="write the example data set's splits")
    d.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    d.add_argument("--out", required=True, help="folder for train/val/test files")
    d.add_argument("--format", choices=["csv", "parquet"], default="csv")
    d.add_argument("--seed", type=int, default=0)
    for module in GROUPS:
        importlib.import_module(module).register(sub)
    add_level_flags(p)
    return p


def add_level_flags(parser: argparse.ArgumentParser) -> None:
    """-v/-q also after a subcommand (`alchemi train ... -q`): every subparser takes them,
    and leaves what was given before the subcommand when they are not repeated."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in dict.fromkeys(action.choices.values()):  # aliases: one parser, once
            level = sub.add_mutually_exclusive_group()
            for flag, what in (("verbose", "debug logging"), ("quiet", "warnings and errors only")):
                level.add_argument(
                    f"-{flag[0]}",
                    f"--{flag}",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help=what,
                )
            add_level_flags(sub)


def main(argv: list[str] | None = None) -> int:
    """Every subcommand runs inside the one error boundary (boundary.guard)."""
    from alchemi_core.boundary import guard
    from alchemi_core.run import stop

    argv = sys.argv[1:] if argv is None else list(argv)
    seen = argparse.Namespace(config=None)  # the command's config: errors without a file name it

    def run() -> int:
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # shell completion (argcomplete): answers, exits
            import argcomplete

            argcomplete.autocomplete(parser)
        args = parser.parse_args(argv)
        seen.config = getattr(args, "config", None)
        setup_logging(args.verbose, args.quiet)
        handler = getattr(args, "func", None) or COMMANDS[args.command]
        return handler(args)

    verbose = "-v" in argv or "--verbose" in argv
    with stop.handling():  # Ctrl-C, SIGTERM: stop at the next checkpoint (again: at once)
        return guard(run, source=lambda: seen.config, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())
