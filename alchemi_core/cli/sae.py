"""`alchemi sae report`: read an SAE run's latents on a table (latents.csv, report.html)."""

from __future__ import annotations

import argparse
import json


def _report(args: argparse.Namespace) -> int:
    from alchemi_core.tabular.sae_report import report

    out = report(args.run, args.embeddings, args.table, args.out, args.checkpoint, args.top_rows)
    print(json.dumps(out, indent=2))
    return 0


def register(sub) -> None:
    s = sub.add_parser("sae", help="sparse autoencoder tools: report")
    ssub = s.add_subparsers(dest="sae_command", required=True, parser_class=type(s))
    r = ssub.add_parser(
        "report",
        help="per latent: frequency, top rows, enriched column values (latents.csv, report.html)",
    )
    r.add_argument("--run", required=True, help="SAE run folder (or a checkpoint file)")
    r.add_argument("--embeddings", required=True, help="the table's embeddings (.npy, row order)")
    r.add_argument("--table", required=True, help="the table the embeddings came from")
    r.add_argument("--out", required=True, help="folder for latents.csv and report.html")
    r.add_argument("--checkpoint", default=None, help="best, last or epoch_N (default: best)")
    r.add_argument("--top-rows", type=int, default=5, help="rows shown per latent")
    r.set_defaults(func=_report)
