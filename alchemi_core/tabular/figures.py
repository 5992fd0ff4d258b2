"""The pictures of a finished run, written beside metrics.jsonl (ALCHEMI_PLOTS=0 skips them).

- every run: curves.png (loss and metrics per epoch)
- a model whose outputs hold "latents" (the SAE): latent_firing.png, the firing frequencies
- any other model with embed() (the VAE): embedding_map.png, a PCA map coloured by the first
  categorical column
Computed from the run's checkpoint on its validation split (train if none), at most MAX_ROWS
rows. A plotting problem never fails a finished run: it is a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from alchemi_core.plots.common import enabled

log = logging.getLogger("alchemi")
MAX_ROWS = 5000
NAMES = ("curves.png", "embedding_map.png", "latent_firing.png")


def draw(run_dir: Path, checkpoint: str | None, loader, cfg) -> list[Path]:
    """Every picture this run gets; returns the files written."""
    if not enabled():
        return []
    from alchemi_core import plots

    written: list[Path] = []
    for name, fn in (
        ("curves", lambda: plots.plot_curves(run_dir / "metrics.jsonl")),
        ("model", lambda: model_figure(run_dir, checkpoint, loader, cfg)),
    ):
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001
            log.warning("could not draw the %s picture: %s", name, exc)
            continue
        if out is not None:
            written.append(out)
    return written


def collect(model, loader, device, max_rows: int = MAX_ROWS):
    """The model's outputs and the batches over the first max_rows rows, concatenated."""
    import torch  # flows import this module for NAMES only: no torch there

    from alchemi_core.tabular.trainer import to_device

    outs: dict[str, list[torch.Tensor]] = {}
    cats: list[torch.Tensor] = []
    rows = 0
    with torch.no_grad():
        for batch in loader:
            batch = to_device(batch, device, torch.float32)
            out = model(batch)
            if "latents" in out:
                outs.setdefault("latents", []).append(out["latents"].cpu())
            elif hasattr(model, "embed"):
                outs.setdefault("embed", []).append(model.embed(batch).cpu())
            if "categorical" in batch:
                cats.append(batch["categorical"][:, 0].cpu())
            rows += len(next(iter(batch.values())))
            if rows >= max_rows:
                break
    cat = torch.cat(cats)[:max_rows].numpy() if cats else None
    return {k: torch.cat(v)[:max_rows].float().numpy() for k, v in outs.items()}, cat


def model_figure(run_dir: Path, checkpoint: str | None, loader, cfg) -> Path | None:
    if checkpoint is None or loader is None:
        return None
    import torch

    from alchemi_core import plots
    from alchemi_core.checkpoint_model import load_model

    model, _ = load_model(checkpoint)
    outs, codes = collect(model, loader, torch.device("cpu"))
    if "latents" in outs:
        freq = (outs["latents"] > 0).mean(axis=0)
        split = "validation" if cfg.val else "training"
        title = f"{cfg.model.class_} latent firing frequencies, {len(outs['latents'])} {split} rows"
        return plots.plot_firing_histogram(freq, run_dir / "latent_firing.png", title=title)
    if "embed" not in outs:
        return None
    column, labels = category_labels(cfg, codes)
    title = f"{cfg.model.class_} embeddings (PCA), {'validation' if cfg.val else 'training'} split"
    return plots.plot_embedding_map(
        outs["embed"], labels, run_dir / "embedding_map.png", label_name=column, title=title
    )


def category_labels(cfg, codes: np.ndarray | None) -> tuple[str, list[str] | None]:
    """The first categorical column's name and each row's category (codes mapped back)."""
    cols = cfg.data.columns.categorical
    if codes is None or not cols:
        return "", None
    from alchemi_core.tabular.loader import load_cardinalities

    mapping = load_cardinalities(cfg.data.cardinalities_path, cols[:1])[cols[0]]
    names = {int(i): str(v) for v, i in mapping.items()}
    return cols[0], [names.get(int(c), str(c)) for c in codes]
