"""Alignment and spectral pictures: retrieval ranks, and reconstructed against true spectra."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from alchemi_core.plots.common import figure, save, wrapped


def plot_retrieval_ranks(
    ranks: np.ndarray | dict[str, np.ndarray],
    out: str | Path,
    title: str = "",
    held_out: Collection[str] = (),
) -> Path:
    """The distribution of the rank (1 = best) of each query's true match.

    `ranks`: one integer rank per query, 1-based: a histogram with recall@1/5/10 marked. Or
    {sensor: ranks}: one cumulative curve per sensor (recall@k against k; the `held_out`
    sensors dashed), each labelled with its recall@1 and recall@5.
    """
    groups = ranks if isinstance(ranks, dict) else {"": ranks}
    groups = {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
    fig = figure(6.4, 4.0)
    ax = fig.add_subplot()
    top = max([10, *(int(r.max()) for r in groups.values() if len(r))])
    bins = np.unique(np.geomspace(1, top + 1, num=min(40, top + 1)).astype(int))
    ax.set_xscale("log")
    if "" in groups:
        r = groups[""]
        ax.hist(r, bins=bins, color="tab:blue", label=f"queries ({len(r)})")
        for k, colour in ((1, "tab:green"), (5, "tab:orange"), (10, "tab:red")):
            recall = float((r <= k).mean()) if len(r) else 0.0
            ax.axvline(
                k + 0.5,
                color=colour,
                linestyle="--",
                linewidth=1,
                label=f"recall@{k} = {recall:.2f}",
            )
        ax.set_ylabel("queries (count)")
    else:  # one cumulative curve per sensor: the fraction found within the first k (recall@k)
        markers = "osD^v<>ph*"
        for i, (name, r) in enumerate(groups.items()):
            held = name in held_out
            k = np.arange(1, top + 1)
            found = np.searchsorted(np.sort(r), k, side="right")
            recall = found / len(r) if len(r) else np.zeros(top)
            ax.step(
                k,
                recall,
                where="post",
                linewidth=1.5,
                linestyle="--" if held else "-",
                marker=markers[i % len(markers)],
                markevery=[0, 4] if top > 4 else [0],
                label=f"{name} ({'held out' if held else 'training'}): "
                f"R@1 {recall[0]:.2f}, R@5 {recall[min(4, top - 1)]:.2f}",
            )
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("recall@k (fraction of queries)")
    k = "" if "" in groups else "k = "
    ax.set_xlabel(f"{k}rank of the true match (1 = retrieved first, log scale)")
    ax.set_title(wrapped(title or "Retrieval ranks", 6.4))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def plot_spectra(
    wavelengths: np.ndarray,
    true: np.ndarray,
    reconstructed: np.ndarray,
    out: str | Path,
    n: int = 4,
    x_label: str = "wavelength (nm)",
    y_label: str = "reflectance",
    title: str = "",
) -> Path:
    """The first `n` samples, one panel each: the true spectrum and its reconstruction."""
    true = np.atleast_2d(np.asarray(true, dtype=np.float64))
    rec = np.atleast_2d(np.asarray(reconstructed, dtype=np.float64))
    n = min(n, len(true))
    cols = min(2, n)
    rows = -(-n // cols)
    fig = figure(5.0 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        ok = np.isfinite(true[i])  # gaps in the true spectrum (NaN) are left out
        err = float(np.sqrt(np.mean((true[i][ok] - rec[i][ok]) ** 2))) if ok.any() else np.nan
        ax.plot(wavelengths, true[i], color="black", linewidth=1.2, label="true")
        ax.plot(
            wavelengths,
            rec[i],
            color="tab:orange",
            linestyle="--",
            linewidth=1.2,
            label="reconstructed",
        )
        ax.set_title(f"sample {i}  (RMSE {err:.3g})", fontsize=10)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(wrapped(title or "Reconstructed vs true spectra", 5.0 * cols))
    return save(fig, out)
