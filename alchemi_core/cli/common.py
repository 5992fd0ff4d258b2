"""Command groups of the `alchemi` CLI, one module each: `register(subparsers)` adds the
group's parsers and sets `func` on them. Handlers import heavy modules (torch, mlflow) lazily,
so `alchemi --help` starts fast. Add a group by listing its module in GROUPS."""

GROUPS = [
    "alchemi_core.cli.config",
    "alchemi_core.cli.align",
    "alchemi_core.cli.mae",
    "alchemi_core.cli.sae",
]


def add_config_options(p, config_help: str) -> None:
    """--config FILE and repeatable --set KEY=VALUE: every command that reads a config."""
    p.add_argument("--config", required=True, help=config_help)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted path), validated like the file",
    )


def add_run_options(p, config_help: str) -> None:
    """The config options plus --seed and --overwrite: every command that trains a run."""
    add_config_options(p, config_help)
    p.add_argument("--seed", type=int, default=None, help="overrides every seed in the config")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run of a different config or data in the same output folder",
    )


def add_nproc_option(p) -> None:
    """--nproc N: data parallel training, N torchrun processes on this machine."""
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data parallel: N processes on this machine (torchrun; one per GPU, or gloo on CPU)",
    )


def run_argv(args, command: list[str]) -> list[str]:
    """`command` with the run options of `args` again, for each torchrun rank."""
    argv = [*command, "--config", args.config, *(f"--set={s}" for s in args.set)]
    argv += ["--seed", str(args.seed)] if args.seed is not None else []
    return argv + (["--overwrite"] if args.overwrite else [])


def launch_ranks(args, command: list[str], load_config) -> int | None:
    """With --nproc N > 1 outside torchrun: check the config (a bad one fails here in one
    line, not in N ranks), then run `alchemi <command>` in N ranks; its exit code. None when
    this process trains itself (one process, or already a rank)."""
    from alchemi_core import distributed
    from alchemi_core.errors import UserError

    if args.nproc < 1:
        raise UserError(f"--nproc {args.nproc}: give 1 or more processes", "command line")
    if args.nproc == 1 or distributed.launched():
        return None
    load_config(args.config, args.set)
    return distributed.launch(args.nproc, run_argv(args, command))
