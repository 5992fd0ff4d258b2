"""The VAE's embedding map (PCA) and the SAE's latent firing frequencies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alchemi_core.plots.common import figure, save

MAX_CLASSES = 10  # more categories than this: the rarest are drawn together as "other"


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of the rows of x, and their explained variance ratio."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    coords = centred @ vt[:k].T
    if k < 2:
        coords = np.hstack([coords, np.zeros((len(x), 2 - k))])
    var = s**2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return coords, np.pad(ratio, (0, 2 - len(ratio)))


def zoom(ax, coords: np.ndarray, q: float = 0.2) -> int:
    """Limit the view to the central 99.6% of points per axis (a few outliers would squash the
    rest into a corner); returns how many points fall outside."""
    lo, hi = np.percentile(coords, [q, 100 - q], axis=0)
    pad = 0.08 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    return int((~((coords >= lo) & (coords <= hi)).all(axis=1)).sum())


def plot_embedding_map(
    embeddings: np.ndarray,
    labels: Sequence[str] | None,
    out: str | Path,
    label_name: str = "",
    title: str = "Embeddings (PCA)",
) -> Path:
    """A 2-D PCA scatter of the embeddings, one colour per category of `labels`."""
    coords, ratio = pca_2d(embeddings)
    fig = figure(6.4, 4.8)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=4, alpha=0.5, label="rows")
    else:
        labels = np.asarray([str(v) for v in labels])
        names, counts = np.unique(labels, return_counts=True)
        order = names[np.argsort(-counts)]
        keep = list(order[: MAX_CLASSES - 1]) if len(order) > MAX_CLASSES else list(order)
        labels = np.where(np.isin(labels, keep), labels, "other")
        for name in keep + (["other"] if len(order) > len(keep) else []):
            m = labels == name
            ax.scatter(coords[m, 0], coords[m, 1], s=4, alpha=0.5, label=f"{name} ({m.sum()})")
    outside = zoom(ax, coords)
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    note = f", {outside} outliers beyond the view" if outside else ""
    ax.set_title(f"{title}\n{len(coords)} rows{note}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(
        title=label_name or None,
        fontsize=8,
        markerscale=3,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
    )
    return save(fig, out)


def plot_firing_histogram(
    frequencies: np.ndarray, out: str | Path, dead_below: float = 0.0, title: str = ""
) -> Path:
    """Histogram of the fraction of rows each latent fires on; dead latents marked in red.

    A latent is dead when its frequency is <= `dead_below` (0: never fires).
    """
    freq = np.asarray(frequencies, dtype=np.float64)
    dead = freq <= dead_below
    fig = figure(6.4, 4.0)
    ax = fig.add_subplot()
    bins = np.linspace(0.0, 1.0, 41)
    ax.hist(freq[~dead], bins=bins, color="tab:blue", label=f"alive ({(~dead).sum()})")
    ax.hist(freq[dead], bins=bins, color="tab:red", label=f"dead ({dead.sum()})")
    ax.axvline(dead_below, color="tab:red", linestyle="--", linewidth=1, label="dead threshold")
    ax.set_xlim(-0.01, 1.01)
    ax.set_xlabel("firing frequency (fraction of rows where the latent is > 0)")
    ax.set_ylabel("latents (count)")
    ax.set_title(title or f"SAE latent firing frequencies, {len(freq)} latents")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)
