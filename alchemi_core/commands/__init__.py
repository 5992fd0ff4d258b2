"""Command groups of the `alchemi` CLI, one module each: `register(subparsers)` adds the
group's parsers and sets `func` on them. Handlers import heavy modules (torch, mlflow) lazily,
so `alchemi --help` starts fast. Add a group by listing its module in GROUPS."""

GROUPS = [
    "alchemi_core.commands.config",
    "alchemi_core.commands.align",
    "alchemi_core.commands.mae",
]
