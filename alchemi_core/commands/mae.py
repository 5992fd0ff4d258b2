"""`alchemi pretrain-mae`: the MAE harness command (a group listed in commands/GROUPS)."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("pretrain-mae", help="MAE harness: masked loss and tokens/s per ratio")
    p.add_argument("--config", required=True, help="MAE config YAML (configs/train.mae.yaml)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument("--seed", type=int, default=None, help="overrides every seed in the config")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run of a different config or data in the same output folder",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON, not a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alchemi_core import api
    from alchemi_core.training.mae import table

    result = api.pretrain_mae(args.config, args.set, seed=args.seed, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"MAE {result.status}: {result.run_dir}")
        print(table(result.rows))
    return 0
