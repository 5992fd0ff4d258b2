"""The alignment stack: band tokenizer, towers and heads, spectral data, retrieval, trainer."""
