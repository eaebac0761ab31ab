"""Screenshots of every tab of the real studio (``python app.py`` on the built-in models), for the README.

    python scripts/screenshots.py [--out docs/screenshots] [--locale zh-CN]

Starts the app in its own process, opens each tab in Debian's chromium (Playwright), runs the tab's main
action with its defaults, waits for the result and saves ``<tab>.png`` (the whole page, scaled to 1000 px wide).
With ``--locale zh-CN`` the browser asks for Chinese, so the page (and, where the machine has a Chinese font, the
plots) come in Chinese; those are saved as ``<tab>.zh-CN.png``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# tab -> (button to press, element, words one of which is in that element's text once the result is on screen
# (English, Chinese); None: wait for an image in the element)
TABS = {
    "text": ("#text-generate", "#text-stats", ("perplexity", "困惑度")),
    "vae": ("#vae-interpolate", "#vae-slerp", None),
    "gan": ("#gan-sample", "#gan-stats", ("Diversity", "多样性")),
    "diffusion": ("#diff-run", "#diff-progress", ("Done", "完成")),
    "models": (None, "#models-table", ("mnist-ddpm",)),
}


def ready_condition(element: str, words: tuple[str, ...] | None) -> str:
    """A JavaScript expression that holds once the result is on screen."""
    if words is None:
        return f"!!document.querySelector('{element} img')"
    text = f"(document.querySelector('{element}')?.innerText || '')"
    return " || ".join(f"{text}.includes('{w}')" for w in words)


def small(path: Path, width: int = 1000, max_height: int = 2600) -> None:
    """Scale the whole-page shot to ``width`` (cropped below ``max_height``) and store it with a 256-colour
    palette, so the README's pictures stay a few hundred kB."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    img = img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)
    img = img.crop((0, 0, width, min(img.height, max_height)))
    img.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--locale", default="en-US", help="the browser's language (en-US or zh-CN)")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale=args.locale)
            deadline = time.time() + 120
            while True:
                try:
                    page.goto(url, wait_until="load")
                    page.wait_for_selector("#studio-tabs", timeout=5_000)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if time.time() > deadline:
                        raise
                    time.sleep(1)
            suffix = "" if args.locale.startswith("en") else f".{args.locale}"
            for tab, (button, element, words) in TABS.items():
                page.locator(f"#tab-{tab}-button").click()
                if button:
                    page.locator(button).click()
                page.wait_for_function(f"() => {ready_condition(element, words)}", timeout=120_000)
                page.wait_for_timeout(800)
                page.locator(f"#tab-{tab}").scroll_into_view_if_needed()
                page.evaluate("window.scrollTo(0, 0)")
                shot = args.out / f"{tab}{suffix}.png"
                page.screenshot(path=str(shot), full_page=True)
                small(shot)
                print("saved", shot)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
