import os

import pytest

# Nothing in the suite may touch the network: the Hub is offline for every test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.helpers import save_tiny_text_model, save_tiny_unet  # noqa: E402


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("models") / "tiny-text")


@pytest.fixture(scope="session")
def tiny_unet_dir(tmp_path_factory):
    return save_tiny_unet(tmp_path_factory.mktemp("models") / "tiny-unet")


@pytest.fixture(scope="session")
def tiny_gan_dir(tmp_path_factory):
    from tests.helpers import save_tiny_gan

    return save_tiny_gan(tmp_path_factory.mktemp("models") / "tiny-gan")


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    from tests.helpers import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")
