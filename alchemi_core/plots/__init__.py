"""Pictures of runs, as PNG files (matplotlib's OO API with the Agg canvas: no display needed).

Each function takes arrays, writes one PNG atomically and returns its path.
"""

from alchemi_core.plots.curves import plot_curves
from alchemi_core.plots.maps import plot_embedding_map, plot_firing_histogram
from alchemi_core.plots.spectra import plot_retrieval_ranks, plot_spectra
from alchemi_core.plots.sweep import plot_sweep

__all__ = [
    "plot_curves",
    "plot_embedding_map",
    "plot_firing_histogram",
    "plot_retrieval_ranks",
    "plot_spectra",
    "plot_sweep",
]
