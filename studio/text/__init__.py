"""Text family: causal language models and the decoding studio."""
