"""GAN family: class-conditional DCGAN sampling, truncation and latent walks."""
