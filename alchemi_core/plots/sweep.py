"""A sweep's objective against each swept parameter, one panel per parameter; for SAE sweeps
(trials with sae.fve and sae.l0) also the frontier: FVE against L0, one line per activation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alchemi_core.plots.common import figure, save

MAX_TICKS = 8  # up to this many tried values get a tick each


def x_axis(ax, name: str, xs: list[float]) -> None:
    """A log axis for a learning rate (or values spanning > 2 decades); ticks at the tried
    values only, labelled as given."""
    from matplotlib.ticker import NullLocator

    tried = sorted(set(xs))
    rate = "learning_rate" in name or name.split(".")[-1] in ("lr", "weight_decay")
    if min(tried) > 0 and (rate or max(tried) > 100 * min(tried)):
        ax.set_xscale("log")
    if len(tried) <= MAX_TICKS:
        ax.set_xticks(tried, [f"{x:g}" for x in tried])
        ax.xaxis.set_minor_locator(NullLocator())
        if len(tried) == 1:  # one value: some room on both sides
            x = tried[0]
            ax.set_xlim(x / 2, x * 2) if x > 0 else ax.set_xlim(x - 1, x + 1)


def plot_sweep(
    trials: list[dict[str, Any]], objective: str, out: str | Path, best: dict | None = None
) -> Path | None:
    """`trials`: [{"params": {name: value}, "value": float | None}]; failed trials are skipped.

    Numeric parameters get a numeric axis (log when they span > 2 decades), others a category
    axis. The best trial, if given, is ringed.
    """
    done = [t for t in trials if t.get("value") is not None]
    names = sorted({k for t in done for k in t["params"]})
    if not done or not names:
        return None
    frontier = all({"sae.fve", "sae.l0"} <= set(t.get("metrics") or {}) for t in done)
    panels = len(names) + frontier
    cols = min(3, panels)
    rows = -(-panels // cols)
    fig = figure(4.2 * cols, 3.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pts = [(t["params"][name], t["value"]) for t in done if name in t["params"]]
        xs = [p[0] for p in pts]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        if not numeric:
            cats = sorted({str(x) for x in xs})
            xs = [cats.index(str(x)) for x in xs]
            ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=8)
        ax.scatter(xs, [p[1] for p in pts], s=18, label="trial")
        if best is not None and name in best.get("params", {}):
            bx = best["params"][name]
            bx = bx if numeric else sorted({str(x) for x, _ in pts}).index(str(bx))
            ax.scatter(
                [bx], [best["value"]], s=90, facecolors="none", edgecolors="tab:red", label="best"
            )
        if numeric:
            x_axis(ax, name, xs)
        ax.set_xlabel(name)
        ax.set_ylabel(f"{objective} (objective)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if frontier:
        plot_frontier(list(axes.flat)[len(names)], done)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    fig.suptitle(f"{objective} per trial, {len(done)} of {len(trials)} trials finished")
    return save(fig, out)


ACTIVATION = "sae.model.params.activation"


def pareto(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (l0, fve) points no other point beats: higher FVE at no more L0, by L0."""
    front: list[tuple[float, float]] = []
    for p in sorted(pts, key=lambda q: (q[0], -q[1])):
        if not front or p[1] > front[-1][1]:
            front.append(p)
    return front


def plot_frontier(ax, done: list[dict[str, Any]]) -> None:
    """FVE against L0: every trial a point, and per activation a line through its frontier
    (the trials no other beats). An activation the sweep does not vary: "as configured"."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for t in done:
        act = str(t["params"].get(ACTIVATION, "as configured"))
        groups.setdefault(act, []).append((t["metrics"]["sae.l0"], t["metrics"]["sae.fve"]))
    for act, pts in sorted(groups.items()):
        dots = ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.6)
        front = pareto(pts)
        ax.plot(*zip(*front, strict=True), "-", color=dots.get_facecolor()[0], label=act)
    ax.set_xlabel("sae.l0 (latents per row, val)")
    ax.set_ylabel("sae.fve (val)")
    ax.set_title("frontier: FVE against L0", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
