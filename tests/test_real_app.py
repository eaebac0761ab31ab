"""A fresh machine, as a user meets it: the repository copied into an empty folder (nothing beside it, no
STUDIO_DATA, an empty Hugging Face cache, offline), `python app.py` started there, and every named endpoint called
with its defaults. Each answers, or, where it acts on an earlier step or needs a download or an argument, gives
its clear message; no FileNotFoundError (or any other crash) reaches a user."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# Endpoints that cannot answer bare, and the message each must give instead (checked, not just tolerated).
BARE_MESSAGES = {
    "/vae_photos": "Upload two photos",
    "/text_add_model": "Type a Hugging Face Hub id or a local folder",
    "/vae_add_model": "Type a Hugging Face Hub id or a local folder",
    "/gan_add_model": "Type a Hugging Face Hub id or a local folder",
    "/diffusion_add_model": "Type a Hugging Face Hub id or a local folder",
    "/text_apply_recipe": "The recipe box is empty",
    "/diffusion_apply_recipe": "The recipe box is empty",
    "/diffusion_reveal": "Nothing to reveal yet",
    "/text_reveal": "Nothing to reveal yet",
    "/t2i_add_model": "Type a Hugging Face Hub id or a local folder",
    "/t2i_apply_recipe": "The recipe box is empty",
    "/t2i_reveal": "Nothing to reveal yet",
    "/t2i_restore": "Drop a PNG made by this tab",
}
# Endpoints that act on the session's last run: their producers go first.
FIRST = ["/text_generate", "/diffusion_run", "/t2i_run"]
CRASH_SIGNS = ("FileNotFoundError", "Traceback", " failed: ", "shared/data", "may be corrupt")


def copy_clone(dest: Path) -> Path:
    """The repository's files as a clone has them (tracked, plus new files not ignored), nothing else."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:  # not a git checkout: copy the tree without caches
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "runs"))
        return dest
    for rel in filter(None, listed.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    home = tmp_path_factory.mktemp("fresh")  # an empty folder: the clone is its only entry
    clone = copy_clone(home / "generative-studio")
    assert sorted(p.name for p in home.iterdir()) == ["generative-studio"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "HF_", "PYTEST"))}
    env.update(GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", HF_HOME=str(home / "hf-cache"),
               GRADIO_ANALYTICS_ENABLED="False", PYTHONDONTWRITEBYTECODE="1")
    log_path = home / "app.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "app.py did not answer within 180 s:\n" + log_path.read_text()
                time.sleep(0.2)
        client = Client(url, verbose=False, ssl_verify=False)
        yield client, log_path
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_named_endpoint_answers_its_defaults_on_a_fresh_machine(fresh_app):
    client, log_path = fresh_app
    endpoints = sorted(client.view_api(return_format="dict")["named_endpoints"])
    assert len(endpoints) >= 30, endpoints
    assert set(BARE_MESSAGES) <= set(endpoints), set(BARE_MESSAGES) - set(endpoints)
    answered, problems = [], []
    for name in [*FIRST, *(e for e in endpoints if e not in FIRST)]:
        try:
            result = client.predict(api_name=name)
        except Exception as err:  # noqa: BLE001 - what the user would see
            msg = str(err)
            expected = BARE_MESSAGES.get(name)
            if expected is None or expected not in msg or any(s in msg for s in CRASH_SIGNS):
                problems.append(f"{name}: {type(err).__name__}: {msg[:300]}")
            continue
        if name in BARE_MESSAGES:
            problems.append(f"{name}: answered bare, expected the message {BARE_MESSAGES[name]!r}")
        elif result is None:
            problems.append(f"{name}: answered None")
        else:
            answered.append(name)
    assert not problems, "\n".join(problems)
    assert len(answered) == len(endpoints) - len(BARE_MESSAGES)
    log = log_path.read_text()
    assert "FileNotFoundError" not in log and "Traceback" not in log, log[-3000:]


def test_builtin_text_model_writes_shakespeare(fresh_app):
    client, _ = fresh_app
    tokens, summary, *_ = client.predict(api_name="/text_generate")
    text = "".join(t["token"] for t in tokens)
    assert text.startswith("ROMEO:\nBut soft, what light") and len(tokens) > 20
    assert "perplexity" in summary


def test_builtin_gan_fools_the_judge(fresh_app):
    client, _ = fresh_app
    gallery, stats, *_ = client.predict(api_name="/gan_grid")
    assert len(gallery) == 16 and "judge agrees with the digit asked for" in stats
    agree = int(stats.split("judge agrees with the digit asked for **")[1].split("%")[0])
    assert agree >= 75


def test_builtin_diffusion_model_draws_the_digit_asked(fresh_app):
    client, _ = fresh_app
    out = client.predict(model="mnist-ddpm", scheduler="DPM-Solver++ 2M", steps=20, eta=0.0, digit="7",
                         guidance_scale=2.0, seed=0, batch_size=4, api_name="/diffusion_run")
    captions = [item["caption"] for item in out[6]]
    assert len(captions) == 4 and all("asked 7" in c for c in captions)
    assert sum("judge 7" in c for c in captions) >= 3, captions


def test_builtin_text_to_image_model_draws_the_digit_the_prompt_names(fresh_app):
    client, _ = fresh_app
    out = client.predict(model="mnist-t2i", prompt="a thick seven", seed=0, batch_size=4, api_name="/t2i_run")
    captions = [item["caption"] for item in out[6]]
    assert len(captions) == 4 and sum("judge reads 7" in c for c in captions) >= 3, captions
