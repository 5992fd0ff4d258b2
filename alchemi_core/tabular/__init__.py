"""The tabular stack: VAE and SAE models, losses, loaders, pictures and MLflow model."""
