"""`alchemi sae report`: an SAE run's latents on a table's embeddings, as latents.csv and an
offline report.html (see sae_latents.py for what is measured)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alchemi_core.errors import CheckpointError
from alchemi_core.output_plan import OutputPlan
from alchemi_core.tabular import sae_latents as sl
from alchemi_core.tabular.sae_report_html import render


def load_sae(run: str | Path, which: str | None = None):
    """The SAE of a run folder (or checkpoint file): `which` best/last/epoch_N; default best,
    else last."""
    from alchemi_core.checkpoint_model import load_model
    from alchemi_core.tabular.sae import SAE

    run = Path(run)
    if which is None:
        which = "best" if (run / "checkpoints" / "best_model.pt").is_file() else "last"
    model, ckpt = load_model(run, "cpu", which)
    if not isinstance(model, SAE):
        raise CheckpointError(f"holds a {ckpt['model_class']!r} model, not an SAE", ckpt["path"])
    return model, ckpt


def report(
    run: str | Path,
    embeddings: str | Path,
    table: str | Path,
    out: str | Path,
    which: str | None = None,
    top_rows: int = 5,
) -> dict:
    """Write DIR/latents.csv and DIR/report.html; their paths and a few figures."""
    out = Path(out)
    plan = OutputPlan("command line", {"--embeddings": embeddings, "--table": table, "--run": run})
    csv_path, html_path = (
        plan.add(out / "latents.csv", "--out"),
        plan.add(out / "report.html", "--out"),
    )
    model, ckpt = load_sae(run, which)
    emb, frame = sl.read_inputs(embeddings, table, model.input_dim)
    codes = sl.latent_codes(model, emb)
    latents = sl.describe_latents(codes, frame, top_rows)
    rows = pd.DataFrame([lat.row() for lat in latents], columns=list(sl.CSV_COLUMNS))
    meta = {
        "run": str(run), "checkpoint": Path(ckpt["path"]).name, "table": str(table),
        "rows": len(frame), "activation": model.activation_name,
    }  # fmt: skip
    page, table_csv = render(latents, frame, meta), rows.to_csv(index=False, float_format="%.6g")
    with plan:  # both files or neither
        plan.write(csv_path, lambda p: p.write_text(table_csv))
        plan.write(html_path, lambda p: p.write_text(page))
    return {
        "latents_csv": str(csv_path),
        "report_html": str(html_path),
        "rows": len(frame),
        "latents": len(latents),
        "alive": int(sum(lat.fires > 0 for lat in latents)),
        "l0": float((codes > 0).sum(1).mean()),
        "top": rows.head(5).replace({np.nan: None}).to_dict("records"),
    }
