"""Text to image, the Stable Diffusion way: a prompt-conditioned latent diffusion model (engine.py, through the
diffusion family's one loop), its autoencoder's pictures (autoencoder.py), the built-in model's captions
(captions.py), its training (train.py), quality figures (evaluate.py), card (report.py) and the tab (tab.py)."""
