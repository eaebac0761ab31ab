"""Evaluation shared by all families: the digit judge, Fréchet distance, nats per character, the ELBO.

`python -m studio.eval FAMILY --json` measures every built-in checkpoint of FAMILY (text, vae, gan,
diffusion, judge, all) and writes each figure to the checkpoint's eval.json, which the Models tab shows.
"""
