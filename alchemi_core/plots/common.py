"""The figure/save helpers every plot shares."""

from __future__ import annotations

import os
from pathlib import Path

from alchemi_core.io import atomic_write

DPI = 90


def enabled() -> bool:
    """Pictures are drawn unless ALCHEMI_PLOTS=0 (every run's, alignment's and sweeps')."""
    return os.environ.get("ALCHEMI_PLOTS", "1") != "0"


def figure(width: float, height: float):
    from matplotlib.figure import Figure  # OO API: no pyplot, no GUI backend, thread-safe

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, out: str | Path) -> Path:
    return atomic_write(Path(out), lambda p: fig.savefig(p, dpi=DPI, format="png"))


def wrapped(title: str, width_inches: float, chars_per_inch: float = 9.0) -> str:
    """`title` broken into lines that fit a figure `width_inches` wide (at the default font
    size), so that a long title is not cut off at both ends."""
    import textwrap

    width = max(20, int(width_inches * chars_per_inch))
    return "\n".join(textwrap.fill(line, width) for line in title.splitlines())
