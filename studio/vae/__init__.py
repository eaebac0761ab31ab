"""VAE family: variational autoencoders and latent-space interpolation."""
