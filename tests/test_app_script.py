"""`python app.py` itself, as a user starts it: it serves, answers, and warms the libraries in the background
without loading a model."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # the built-in checkpoints ship in the repository: nothing to skip for


def start(env_extra: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               **env_extra)
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("app.py did not answer within 180 s:\n" + log_path.read_text())


def wait_for(log_path: Path, text: str, seconds: float) -> str:
    deadline = time.time() + seconds
    while time.time() < deadline:
        out = log_path.read_text()
        if text in out:
            return out
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in the log after {seconds} s:\n{log_path.read_text()}")


def test_app_serves_and_warms_the_libraries_without_loading_a_model(tmp_path):
    proc, url = start({}, tmp_path / "app.log")
    try:
        out = wait_for(tmp_path / "app.log", "imports for", 180)
        line = next(s for s in out.splitlines() if "imports for" in s)
        for key in ["shakespeare-gpt", "mnist-ddpm", "mnist-vae-2d", "mnist-dcgan"]:
            assert key in line, line
        client = Client(url, verbose=False, ssl_verify=False)
        table, memory = client.predict(api_name="/models_status")
        loaded = [row[0] for row in table["data"] if row[3] == "yes"]  # the "loaded" column
        assert not loaded and "**loaded:** 0 of" in memory, f"warming imports loaded a model: {loaded}"
        tokens, summary, *_ = client.predict(api_name="/text_generate")
        assert "".join(t["token"] for t in tokens).startswith("ROMEO:")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def has_text_library(proc) -> bool:
    """Whether the app process has imported the text model's library: tokenizers' compiled module, which
    importing transformers' tokenizer classes maps into the process (app.py itself never imports it)."""
    return any("tokenizers" in line and ".so" in line for line in open(f"/proc/{proc.pid}/maps"))


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc (Linux)")
def test_warm_imports_can_be_turned_off(tmp_path):
    """Observed directly: with the warm-up on, the library is in the process once the warm-up logs; with it off
    it is not, for half as long again as the warm-up took, until the first Generate imports it."""
    proc, url = start({}, tmp_path / "on.log")
    try:
        began = time.time()
        wait_for(tmp_path / "on.log", "imports for", 180)
        took = time.time() - began
        assert has_text_library(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc, url = start({"STUDIO_WARM_IMPORTS": "0"}, tmp_path / "off.log")
    try:
        client = Client(url, verbose=False, ssl_verify=False)
        assert client.predict(api_name="/models_status") is not None
        deadline = time.time() + max(1.5 * took, 10)  # half as long again as it took on (3x: 45 s of CI)
        while time.time() < deadline:
            assert not has_text_library(proc), "the libraries were imported with STUDIO_WARM_IMPORTS=0"
            time.sleep(0.5)
        assert "imports for" not in (tmp_path / "off.log").read_text()
        client.predict(max_new_tokens=3, api_name="/text_generate")
        assert has_text_library(proc)  # the probe sees the import when it does happen
    finally:
        proc.terminate()
        proc.wait(timeout=30)
