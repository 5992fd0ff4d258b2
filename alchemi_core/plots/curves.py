"""Training curves from metrics.jsonl, as a PNG beside it (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from alchemi_core.plots.common import figure, save
from alchemi_core.run.folder import read_metrics, read_run_json

SKIP = {"epoch", "epoch_seconds"}


def y_label(name: str) -> str:
    if name == "lr":
        return "learning rate"
    if "accuracy" in name or "fraction" in name or name == "fve" or "top1" in name:
        return f"{name} (fraction)"
    if "sam_deg" in name:
        return f"{name} (degrees)"
    return f"{name} (mean per row)"


def y_axis(ax, name: str, lo: float, hi: float) -> None:
    """Scale and limits a reader can trust: a log axis for the learning rate and for losses
    that fall by orders of magnitude; a fraction that barely moves on [0, 1]; a constant
    with room around it (matplotlib would zoom into rounding noise, with an offset)."""
    if lo > 0 and (name == "lr" or hi > 10 * lo):
        ax.set_yscale("log")
        if hi < 3 * lo:  # a constant (or nearly) learning rate: a decade around it
            ax.set_ylim(lo / 3, hi * 3)
        return
    ax.ticklabel_format(axis="y", useOffset=False)
    if y_label(name).endswith("(fraction)") and 0 <= lo and hi <= 1 and hi - lo < 0.05:
        ax.set_ylim(-0.02, 1.02)
    elif hi - lo <= 1e-9 * max(1.0, abs(hi)):
        pad = 0.1 * abs(hi) or 1.0
        ax.set_ylim(lo - pad, hi + pad)


def plot_curves(
    metrics_path: str | Path, out: str | Path | None = None, only: tuple[str, ...] = ()
) -> Path | None:
    """One panel per metric family (loss, each component, lr); train and val on the same axes.
    `only`: just these families (and lr), in that order."""
    rows = read_metrics(Path(metrics_path).parent)
    if not rows:
        return None
    info = read_run_json(Path(metrics_path).parent) or {}
    marks = [  # the best epoch, and where early stopping ended the run (run.json)
        (info.get("best_epoch"), "best", "tab:green"),
        (info.get("early_stop_epoch"), "early stop", "tab:red"),
    ]
    from matplotlib.ticker import MaxNLocator

    names = sorted(
        {k.split("_", 1)[1] for r in rows for k in r if k.startswith(("train_", "val_"))}
    )
    panels = [n for n in names if n == "loss"] + [n for n in names if n != "loss"]
    if only:
        panels = [n for n in only if n in names]
    panels.append("lr")
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig = figure(4.2 * cols, 3.0 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, name in zip(axes.flat, panels, strict=False):
        for split, style in (("train", "-"), ("val", "o--")):
            key = name if name == "lr" else f"{split}_{name}"
            pts = [(r["epoch"], r[key]) for r in rows if key in r]
            if pts and (name != "lr" or split == "train"):
                ax.plot(
                    *zip(*pts, strict=True),
                    style,
                    label=split if name != "lr" else "lr",
                    markersize=3,
                )
        values = [float(v) for line in ax.get_lines() for v in line.get_ydata()]
        for epoch, label, colour in marks:
            if epoch is not None:
                ax.axvline(epoch, color=colour, ls=":", lw=1, label=f"{label} ({epoch:g})")
        if values:
            y_axis(ax, name, min(values), max(values))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(y_label(name), fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    return save(fig, Path(out) if out else Path(metrics_path).with_name("curves.png"))
