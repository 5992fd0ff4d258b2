"""The masked-autoencoder stack: projector, encoder/decoder, spectra, harness."""
