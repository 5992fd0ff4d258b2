"""Run a trained checkpoint over data: embeddings, predictions and split-level loss.

  commands.py  extract, predict, evaluate: what `alchemi extract|predict` and the tasks call
  loop.py      the batch loop: a split's loader in input order, rows stitched into one tensor
  outputs.py   output files (.npy or .parquet) with a JSON sidecar saying what made them
The model comes from its checkpoint through assembly.open_checkpoint / assembly.load_model.
"""

from alchemi_core.inference.tabular import evaluate, extract, predict

__all__ = ["evaluate", "extract", "predict"]
