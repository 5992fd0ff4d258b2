"""Command groups of the `alchemi` CLI, one module each: `register(subparsers)` adds the
group's parsers and sets `func` on them. Handlers import heavy modules (torch, mlflow) lazily,
so `alchemi --help` starts fast. Add a group by listing its module in GROUPS."""

GROUPS = [
    "alchemi_core.commands.config",
    "alchemi_core.commands.align",
    "alchemi_core.commands.mae",
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
