from alchemi_core.data.batching import Batch, BatchLoader, DataSpec
from alchemi_core.data.embeddings import EmbeddingDataLoader
from alchemi_core.data.tabular import TabularDataLoader

__all__ = ["Batch", "BatchLoader", "DataSpec", "EmbeddingDataLoader", "TabularDataLoader"]
