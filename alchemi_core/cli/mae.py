"""`alchemi pretrain-mae`: the MAE harness command (a group listed in cli/common.py's GROUPS)."""

from __future__ import annotations

import argparse
import json

from alchemi_core.cli.common import add_run_options


def register(sub) -> None:
    p = sub.add_parser("pretrain-mae", help="MAE harness: masked loss and tokens/s per ratio")
    add_run_options(p, "MAE config YAML (configs/train.mae.yaml)")
    p.add_argument("--json", action="store_true", help="print the result as JSON, not a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alchemi_core import api
    from alchemi_core.mae.harness import table

    result = api.pretrain_mae(args.config, args.set, seed=args.seed, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"MAE {result.status}: {result.run_dir}")
        print(table(result.rows))
    return 0
