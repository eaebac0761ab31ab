"""Generative Studio: a multi-tab Gradio app for exploring and teaching generative models.

Layers (data flows one way):
    studio.registry   ModelSpec + ModelRegistry: lazy, once-only, LRU-cached model loading
    studio.<family>   loader (source -> bundle), engine (the algorithm), tab (Gradio wiring)
    app.py            reads the environment, builds the registry and the Blocks, launches
"""

__version__ = "0.1.0"
