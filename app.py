"""Generative Studio: `python app.py` serves on http://127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT to change).

Reads the environment (see studio/config.py), builds the model registry and the Blocks, launches.
Models load lazily on first use; STUDIO_PRELOAD=1 loads every built-in model before serving (GPU Spaces). Once it
serves, the built-in models' libraries (transformers, diffusers) are imported in the background, weights untouched,
so a tab's first click does not wait ~5 s for them (STUDIO_WARM_IMPORTS=0 turns this off).
"""

import logging

from studio.device import limit_malloc_arenas, start_malloc_trimmer

# before Gradio starts its worker threads: memory stays flat under many users (see studio/device.py)
limit_malloc_arenas()
start_malloc_trimmer()

from studio.config import Settings  # noqa: E402
from studio.catalog import registry_from_settings  # noqa: E402
from studio.serving import cpu_cores, serving_of  # noqa: E402
from studio.ui.app import build_studio, launch_kwargs  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

settings = Settings.from_env()
logging.getLogger("studio").info(settings.describe())  # hosted or not, and why (README: Hosting)
registry = registry_from_settings(settings)
demo = build_studio(registry, settings)
# every kind of request may run `workers` at once; the compute gate inside lets `compute_slots` compute (studio/serving/)
served = serving_of(registry)
if registry.device.type == "cpu" and served.gate.slots > 1:  # each slot its share of the cores (studio.serving)
    import torch

    torch.set_num_threads(max(1, cpu_cores() // served.gate.slots))
demo.queue(max_size=settings.queue_size, default_concurrency_limit=served.workers)

if __name__ == "__main__":
    if settings.preload:
        for key, result in registry.preload(settings.preload).items():
            logging.getLogger("studio").info("preload %s: %s", key, result)
    demo.launch(**launch_kwargs(settings), mcp_server=settings.mcp, prevent_thread_lock=settings.warm_imports)
    if settings.warm_imports:
        registry.warm_imports_in_background(delay=2.0)  # after the page's first requests (benchmarks/app_start.py)
        demo.block_thread()
