"""Diffusion family: DDPM-style UNets and the denoising-step visualizer."""
