"""`alchemi align train|eval` and `alchemi prepare-spectra`: parsers and handlers."""

from __future__ import annotations

import argparse
import json

from alchemi_core.cli.common import add_nproc_option, add_run_options, launch_ranks


def _train(args: argparse.Namespace) -> int:
    from alchemi_core import distributed
    from alchemi_core.alignment import api as align_api
    from alchemi_core.alignment.config import load_alignment_config

    code = launch_ranks(args, ["align", "train"], load_alignment_config)
    if code is not None:
        return code
    result = align_api.train(args.config, args.set, seed=args.seed, overwrite=args.overwrite)
    if distributed.is_main():
        print(json.dumps(result.to_dict(), indent=2))
    distributed.finish()
    return 0


def _eval(args: argparse.Namespace) -> int:
    from alchemi_core.alignment import api as align_api

    out = align_api.evaluate(
        args.run,
        args.lab,
        args.sensor,
        noise=args.noise,
        seed=args.seed,
        which=args.checkpoint,
        plots=args.plots,
        labels=args.labels,
        rerank=args.rerank,
    )
    print(json.dumps(out))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from alchemi_core.alignment import prepare_spectra

    print(json.dumps(prepare_spectra.prepare(args.out, fmt=args.format), indent=2))
    return 0


def register(sub) -> None:
    """`align train|eval` and `prepare-spectra` (the `alignment` config kind: config/kinds.py)."""
    a = sub.add_parser("align", help="lab<->sensor alignment: train, eval")
    asub = a.add_subparsers(dest="align_command", required=True, parser_class=type(a))
    t = asub.add_parser("train", help="train the alignment model from a YAML config")
    add_run_options(t, "alignment config YAML")
    add_nproc_option(t)
    t.set_defaults(func=_train)
    e = asub.add_parser("eval", help="retrieval and cycle metrics on a lab table and a sensor")
    e.add_argument("--run", required=True, help="alignment run folder")
    e.add_argument("--lab", required=True, help="lab library table (CSV or parquet)")
    e.add_argument("--sensor", required=True, help="sensor response table")
    e.add_argument("--noise", type=float, default=None, help="default: the run's data.noise")
    e.add_argument("--seed", type=int, default=0, help="seed of the simulated noise")
    e.add_argument("--checkpoint", choices=["best", "last"], default="best")
    e.add_argument(
        "--labels",
        metavar="COLUMN",
        default=None,
        help="a class column of the lab table: also the linear probe's transfer accuracy "
        "from the run's training sensors to this one",
    )
    e.add_argument(
        "--rerank",
        metavar="K",
        type=int,
        default=None,
        help="re-rank the model's K best candidates by the known responses "
        "(default: the run's rerank.candidates; 0: off)",
    )
    e.add_argument(
        "--plots",
        metavar="DIR",
        default=None,
        help="also save <sensor>_retrieval_ranks.png and <sensor>_spectra.png in DIR",
    )
    e.set_defaults(func=_eval)
    p = sub.add_parser("prepare-spectra", help="write earthlib spectra and sensor responses")
    p.add_argument("--out", required=True, help="folder for lab.parquet and sensors/")
    p.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    p.set_defaults(func=_prepare)
