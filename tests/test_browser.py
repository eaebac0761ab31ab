"""Real-browser tests: Playwright drives Debian's chromium (no browser download) against the launched studio.

Marked `browser`; skipped where /usr/bin/chromium is missing (.ci/run installs it). Screenshots go to
$STUDIO_SCREENSHOTS (default: a temporary folder).
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from studio.config import REPO_ROOT
from studio.registry import ModelRegistry, ModelSpec
from tests.helpers import launched

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def studio(tiny_text_dir, tiny_gan_dir, tiny_unet_dir, tiny_sd_dir, tmp_path_factory):
    """(url, registry) of the launched studio."""
    from tests.helpers import save_tiny_poem_model, save_tiny_vae

    poems = save_tiny_poem_model(tmp_path_factory.mktemp("models") / "tiny-poems")
    vae = save_tiny_vae(tmp_path_factory.mktemp("vae") / "tiny-vae-16d", latent_dim=16)
    vae2 = save_tiny_vae(tmp_path_factory.mktemp("vae") / "tiny-vae-2d", latent_dim=2)
    reg = ModelRegistry([ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm", builtin=True),
                         ModelSpec(key="tiny-poems", family="text", source=str(poems),
                                   loader="transformers-causal-lm", builtin=True),
                         ModelSpec(key="tiny-vae-16d", family="vae", source=str(vae),
                                   loader="mixin:studio.vae.model:ConvVAE", builtin=True),
                         ModelSpec(key="tiny-vae-2d", family="vae", source=str(vae2),
                                   loader="mixin:studio.vae.model:ConvVAE", builtin=True),
                         ModelSpec(key="tiny-gan", family="gan", source=str(tiny_gan_dir),
                                   loader="mixin:studio.gan.model:Generator", builtin=True),
                         ModelSpec(key="tiny-unet", family="diffusion", source=str(tiny_unet_dir),
                                   loader="diffusers-unet", builtin=True),
                         ModelSpec(key="tiny-sd", family="t2i", source=str(tiny_sd_dir), loader="diffusers-sd",
                                   builtin=True),
                         # the shipped judge (small, in the repository): the Families tab rates every family with it
                         ModelSpec(key="digit-judge", family="judge",
                                   source=str(REPO_ROOT / "checkpoints" / "digit-judge"),
                                   loader="mixin:studio.eval.judge:DigitJudge", builtin=True)], device="cpu")
    app = launched(reg)
    with app:
        yield app.url, reg


@pytest.fixture(scope="module")
def url(studio):
    return studio[0]


@pytest.fixture(scope="module")
def page(url, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS,
                                    env={**os.environ, "HOME": str(tmp_path_factory.mktemp("home"))})
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(url, wait_until="load")  # Gradio keeps a connection open: never "networkidle"
        pg.wait_for_selector("#studio-tabs", timeout=60_000)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_text_tab_generates_in_the_browser(page, shots):
    page.get_by_role("tab", name="Text", exact=True).click()
    # an English page stays on the first built-in model (not the Chinese one), with the English examples
    assert page.locator("#text-model input").input_value() == "tiny-text"
    assert page.get_by_text("First Citizen:").first.is_visible()
    assert not page.get_by_text("春眠不觉晓").first.is_visible()
    slider = page.locator("#text-max-new input[type=number]")
    slider.fill("40")
    slider.press("Enter")
    page.locator("#text-generate").click()
    page.wait_for_function("() => document.querySelector('#text-stats')?.innerText.includes('tokens (')",
                           timeout=60_000)
    assert "sequence log-probability" in page.locator("#text-stats").inner_text()
    assert page.locator("#text-step-plot img, #text-step-plot svg, #text-step-plot canvas").count() >= 1
    page.screenshot(path=str(shots / "text.png"), full_page=True)


def test_the_output_reads_as_text_and_clicking_a_token_selects_its_step(page, shots):
    """The prompt's line break breaks the line (its span wraps onto two lines), the legend says what the colour
    means, and a click on a generated token selects its step and outlines it."""
    page.get_by_role("tab", name="Text", exact=True).click()
    view = page.locator("#text-reading .studio-reading")
    assert "Colour = the probability p the sampler gave" in page.locator("#text-reading .studio-legend").inner_text()
    text = view.inner_text()  # the tiny test tokenizer has no capitals: they come back as its unknown token
    assert "↵\n" in text.split("ut soft, what light")[0], text[:200]
    lines = page.evaluate("() => document.querySelector('#text-reading .studio-reading .p').getClientRects().length")
    assert lines >= 2, "the prompt's newline did not break the line"
    tokens = page.locator("#text-reading [data-step]")
    assert tokens.count() >= 4
    tokens.nth(2).click()
    page.wait_for_function(
        "() => document.querySelector('#text-step input[type=number]')?.value === '2'", timeout=30_000)
    page.wait_for_selector('#text-reading .sel[data-step="2"]', timeout=30_000)
    page.locator("#text-reading").screenshot(path=str(shots / "text_reading.png"))


def test_attention_lens_and_score_in_the_browser(page, shots):
    page.get_by_role("tab", name="Text", exact=True).click()
    page.get_by_text("Attention: what each head looks at").click()
    page.locator("#text-attention").click()
    page.wait_for_selector("#text-att-view .studio-reading span", timeout=60_000)
    assert "Layer 1, head 1 looks most at" in page.locator("#text-att-note").inner_text()
    page.get_by_text("Logit lens: what each layer would predict").click()
    page.locator("#text-lens").click()
    page.wait_for_function("() => document.querySelector('#text-lens-note')?.innerText.includes('layer by layer')",
                           timeout=60_000)
    page.get_by_text("Score any text: how surprising").click()
    page.locator("#text-score-use-last").click()
    page.wait_for_function("() => document.querySelector('#text-score-b textarea')?.value.length > 0", timeout=30_000)
    page.locator("#text-score").click()
    page.wait_for_selector("#text-score-view-b .studio-reading span", timeout=60_000)
    assert "perplexity" in page.locator("#text-score-note").inner_text()
    page.screenshot(path=str(shots / "text_inside.png"), full_page=True)


def test_gan_tab_samples_in_the_browser(page, shots):
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.locator("#gan-sample").click()
    page.wait_for_function("() => document.querySelector('#gan-stats')?.innerText.includes('Diversity')",
                           timeout=60_000)
    assert page.locator("#gan-gallery img").count() >= 16
    page.screenshot(path=str(shots / "gan.png"), full_page=True)


def test_vae_tab_interpolates_in_the_browser(page, shots):
    page.get_by_role("tab", name="VAE", exact=True).click()
    steps = page.locator("#vae-steps input[type=number]")
    steps.fill("8")
    steps.press("Enter")
    page.locator("#vae-interpolate").click()
    page.wait_for_selector("#vae-lerp img", timeout=60_000)
    page.wait_for_selector("#vae-slerp img", timeout=60_000)
    page.screenshot(path=str(shots / "vae.png"), full_page=True)


def test_clicking_the_latent_map_decodes_that_point(page, shots):
    page.get_by_role("tab", name="VAE", exact=True).click()
    page.locator("#vae-map").click()
    page.wait_for_selector("#vae-map-image img", timeout=60_000)
    img = page.locator("#vae-map-image img")
    box = img.bounding_box()
    img.click(position={"x": box["width"] * 0.53, "y": box["height"] * 0.5})  # inside the axes (scrolls into view)
    page.wait_for_function(
        "() => document.querySelector('#vae-clicked-z')?.innerText.includes('Decoded z = (')", timeout=30_000)
    page.screenshot(path=str(shots / "vae_map_click.png"), full_page=True)


def test_diffusion_tab_runs_and_scrubs_in_the_browser(page, shots):
    page.get_by_role("tab", name="Diffusion", exact=True).click()
    steps = page.locator("#diff-steps input[type=number]")
    steps.fill("8")
    steps.press("Enter")
    page.locator("#diff-run").click()
    page.wait_for_function("() => document.querySelector('#diff-progress')?.innerText.includes('Done')",
                           timeout=60_000)
    assert "8 steps of Euler ancestral" in page.locator("#diff-progress").inner_text()
    assert page.locator("#diff-result img").count() == 4
    page.get_by_text("Guidance made visible").click()  # open the accordion that holds the note
    scrub = page.locator("#diff-scrub input[type=number]")
    assert scrub.input_value() == "8"
    scrub.fill("2")
    scrub.press("Enter")
    page.wait_for_function("() => document.querySelector('#diff-guidance-note')?.innerText.includes('Step 2 ')",
                           timeout=30_000)
    page.locator("#diffusion-maths-accordion").click()
    page.wait_for_selector("#diffusion-maths .katex", timeout=10_000)  # the formulas render
    page.screenshot(path=str(shots / "diffusion.png"), full_page=True)


def test_text_to_image_tab_draws_the_prompt_step_by_step(page, shots):
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.wait_for_function("() => document.querySelector('#t2i-model input')?.value === 'tiny-sd'",
                           timeout=10_000)
    steps = page.locator("#t2i-steps input[type=number]")
    steps.fill("10")
    steps.press("Enter")
    page.locator("#t2i-prompt textarea").fill("a thin, upright two")
    page.locator("#t2i-run").click()
    page.wait_for_function("() => document.querySelector('#t2i-progress')?.innerText.includes('Done')",
                           timeout=60_000)
    assert "10 steps of" in page.locator("#t2i-progress").inner_text()
    assert page.locator("#t2i-result img").count() >= 1
    assert page.locator("#t2i-x0 img").count() == 1 and page.locator("#t2i-xt img").count() == 1
    scrub = page.locator("#t2i-scrub input[type=number]")
    assert scrub.input_value() == "10"
    page.locator("#t2i-decode").click()  # the full decoder on the step shown
    page.wait_for_selector("#t2i-decoded img", timeout=30_000)
    page.screenshot(path=str(shots / "text-to-image.png"), full_page=True)


def test_lab_trains_live_and_pause_really_stops(page, shots):
    page.get_by_role("tab", name="Lab", exact=True).click()
    for elem, value in (("#lab-steps", "20000"), ("#lab-frame-every", "50")):
        page.locator(f"{elem} input").fill(value)
        page.locator(f"{elem} input").press("Enter")
    page.locator("#lab-play").click()
    # frames stream in while it trains: wait for a second one
    page.wait_for_function("() => /Step (1[0-9][0-9]|[2-9][0-9][0-9]|[0-9]{4,})\\b/.test("
                           "document.querySelector('#lab-stats')?.innerText || '')", timeout=60_000)
    assert "modes covered" in page.locator("#lab-stats").inner_text()
    page.locator("#lab-pause").click()
    page.wait_for_timeout(1500)  # a frame already on its way may still land
    paused = page.locator("#lab-stats").inner_text()
    page.wait_for_timeout(3000)
    assert page.locator("#lab-stats").inner_text() == paused  # nothing trains after Pause
    before = int(paused.split("Step ")[1].split()[0])
    page.locator("#lab-d-step").click()  # one discriminator update: the count (generator steps) stays
    page.wait_for_function("() => (document.querySelector('#lab-stats')?.innerText || '').includes("
                           "'One discriminator step')", timeout=30_000)
    assert f"Step {before} " in page.locator("#lab-stats").inner_text()
    page.locator("#lab-g-step").click()  # one generator update moves it by one
    page.wait_for_function(f"() => (document.querySelector('#lab-stats')?.innerText || '').includes("
                           f"'Step {before + 1} ')", timeout=30_000)
    page.screenshot(path=str(shots / "lab.png"), full_page=True)


def test_families_tab_compares_the_families(page, shots):
    page.get_by_role("tab", name="Families", exact=True).click()
    page.locator("#fam-run").click()
    page.wait_for_function("() => (document.querySelector('#fam-table')?.innerText || '').includes('GAN')",
                           timeout=120_000)
    table = page.locator("#fam-table").inner_text()
    assert "VAE" in table and "DDPM" in table.upper()
    # one strip per family, each shown at its own shape: four strips fit in one screen (in a gallery each sat in a
    # square cell as wide as the page, so most of the view was blank)
    boxes = []
    for i in range(4):
        img = page.locator(f"#fam-row-{i} img")
        img.wait_for(timeout=30_000)
        natural = img.evaluate("e => e.naturalWidth / e.naturalHeight")
        box = page.locator(f"#fam-row-{i}").bounding_box()
        shown = img.bounding_box()
        assert natural > 4 and shown["width"] / shown["height"] == pytest.approx(natural, rel=0.1), (natural, shown)
        boxes.append(box)
    assert boxes[-1]["y"] + boxes[-1]["height"] - boxes[0]["y"] < 900, boxes
    page.screenshot(path=str(shots / "families.png"), full_page=True)


def test_a_link_restores_the_view_reruns_it_and_copy_link_writes_it(page, url, shots):
    pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(url + "?tab=gan&gan-seed=5&gan-side=3&gan-digit=7&run=1", wait_until="load")
    pg.wait_for_function("() => document.querySelector('#gan-stats')?.innerText.includes('Diversity')",
                         timeout=60_000)
    assert pg.locator("#gan-gallery img").count() == 9  # 3×3, from the link
    assert pg.locator("#gan-seed input").input_value() == "5"
    captions = pg.locator("#gan-gallery").inner_text()
    assert "seed 5 · asked 7" in captions and "seed 13 · asked 7" in captions
    pg.locator("#gan-seed input").fill("11")
    pg.locator("#gan-seed input").press("Enter")
    pg.locator("#share-copy").click()
    pg.wait_for_function("() => document.querySelector('#share-link textarea')?.value.includes('gan-seed=11')",
                         timeout=10_000)
    link = pg.locator("#share-link textarea").input_value()
    assert "tab=gan" in link and "gan-side=3" in link and "gan-digit=7" in link and "text-prompt" not in link
    assert "gan-seed=11" in pg.url  # the address bar holds the same link
    pg.screenshot(path=str(shots / "share-link.png"), full_page=True)
    pg.close()


def test_a_bad_value_in_a_link_is_reported_not_applied(page, url):
    pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(url + "?tab=diffusion&diff-steps=5000&diff-scheduler=Heun", wait_until="load")
    pg.wait_for_selector("text=diff-steps='5000' was not applied", timeout=30_000)
    assert pg.locator("#diff-steps input[type=number]").input_value() == "20"  # unchanged
    assert pg.locator("#diff-scheduler input").input_value() == "Heun"  # the good value is applied
    pg.close()


def test_models_tab_shows_the_table(page, shots):
    page.get_by_role("tab", name="Models", exact=True).click()
    page.wait_for_selector("#models-table")
    assert "tiny-text" in page.locator("#models-table").inner_text()
    page.screenshot(path=str(shots / "models.png"), full_page=True)


def test_a_chinese_browser_gets_the_chinese_studio_and_settings_switch_it_to_english(page, url, shots):
    """The page follows the browser's language; messages written on the server follow the page, also after
    Gradio's Settings -> Language switches it."""
    ctx = page.context.browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.goto(url, wait_until="load")
    pg.wait_for_selector("#studio-tabs", timeout=60_000)
    assert pg.locator("#studio-tabs [role=tab]").all_inner_texts() == [
        "文本", "VAE", "GAN", "扩散", "文生图", "实验室", "模型家族", "模型"]
    assert pg.evaluate("document.documentElement.lang") == "zh-CN"
    assert [c["value"] for c in ctx.cookies() if c["name"] == "studio_lang"] == ["zh-CN"]
    # the Text tab opens on the Chinese model, a Tang first line and the Chinese examples
    pg.wait_for_function("() => document.querySelector('#text-model input')?.value === 'tiny-poems'", timeout=10_000)
    assert pg.locator("#text-prompt textarea").input_value() == "白日依山尽，"
    assert pg.get_by_text("春眠不觉晓，处处闻啼鸟。").is_visible()
    assert not pg.get_by_text("First Citizen:").first.is_visible()
    pg.locator("#text-generate").click()
    pg.wait_for_function("() => document.querySelector('#text-stats')?.innerText.includes('对数概率')", timeout=60_000)
    pg.locator("#tab-gan-button").click()
    assert pg.locator("#gan-sample").inner_text() == "采样网格"
    # a choice's shown name; its value stays "any" (the dropdown fills its input a moment after the tab shows)
    pg.wait_for_function("() => document.querySelector('#gan-digit input')?.value === '任意'", timeout=10_000)
    assert pg.locator("#gan-digit input").input_value() == "任意"
    pg.locator("#gan-sample").click()
    pg.wait_for_function("() => document.querySelector('#gan-stats')?.innerText.includes('多样性')", timeout=60_000)
    assert "种子 0 · 要求" in pg.locator("#gan-gallery").inner_text()
    pg.locator("#gan-maths-accordion").click()
    pg.wait_for_selector("#gan-maths .katex", timeout=10_000)  # the Chinese maths panel renders its formulas
    assert "极小极大博弈" in pg.locator("#gan-maths").inner_text()
    pg.screenshot(path=str(shots / "gan-zh-CN.png"), full_page=True)
    pg.locator("#tab-diffusion-button").click()
    pg.get_by_text("比较调度器").click()
    pg.locator("#diff-reveal").click()
    pg.wait_for_selector("text=还没有可揭晓的答案。请先勾选测验框运行一次比较", timeout=30_000)  # an error, in Chinese
    # Settings -> Language -> English: the page and the server's messages switch together
    pg.locator("footer").get_by_text("设置").click()
    pg.get_by_role("combobox", name="Language").click()
    pg.get_by_role("option", name="English").click()
    pg.locator("[aria-label=Settings] .backdrop").click(position={"x": 5, "y": 5}, force=True)
    pg.wait_for_function("() => document.documentElement.lang === 'en'", timeout=10_000)
    assert [c["value"] for c in ctx.cookies() if c["name"] == "studio_lang"] == ["en"]
    assert pg.locator("#diff-run").inner_text() == "Run the reverse process"
    pg.locator("#diff-reveal").click()
    pg.wait_for_selector("text=Nothing to reveal yet. Run a comparison with the quiz box ticked", timeout=30_000)
    ctx.close()


def test_closing_the_browser_tab_stops_the_generation_on_the_server(page, studio):
    """Cancel on disconnect, for real: the tab that started a long stream is closed; the model stops."""
    url, reg = studio
    model = reg.get("tiny-text").model
    calls = []

    def slow(*_):
        calls.append(1)
        time.sleep(0.3)  # the page's default run (31 tokens, then the end-of-text token) takes about 9 s

    handle = model.register_forward_hook(slow)
    try:
        pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(url + "?tab=text&text-max-new=400", wait_until="load")
        pg.wait_for_function("() => document.querySelector('#text-max-new input[type=number]')?.value === '400'",
                             timeout=30_000)
        pg.locator("#text-generate").click()
        deadline = time.time() + 30
        while len(calls) < 5 and time.time() < deadline:
            time.sleep(0.05)
        assert len(calls) >= 5, "the generation did not start"
        pg.close()  # the student closes the tab mid-run
        time.sleep(2.0)
        after_close = len(calls)
        time.sleep(2.0)  # a run that went on would make 6 or 7 more passes in this time
        assert len(calls) <= after_close + 1, "the loop ran on after the tab closed"
    finally:
        handle.remove()
    # the same run left alone goes much further: it was the closed tab that stopped it, not the end of the text
    from gradio_client import Client

    client = Client(url, verbose=False, ssl_verify=False)
    try:
        params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/text_generate"]["parameters"]
        args = [p["parameter_default"] for p in params]  # the page's defaults, as in the closed tab
        args[next(i for i, p in enumerate(params) if "max" in str(p.get("label")).lower())] = 400
        summary = client.predict(*args, api_name="/text_generate")[1]
    finally:
        client.close()
    n_tokens = int(summary.split("**")[1].split()[0])
    assert n_tokens > after_close + 10, summary


def test_an_error_toast_stays_with_its_tab(page):
    """An error shown in one tab closes when another tab is opened (it used to stay over the next tabs)."""
    page.get_by_role("tab", name="VAE", exact=True).click()
    page.locator("#vae-a-source label", has_text="upload").click()
    page.locator("#vae-interpolate").click()
    page.wait_for_selector("text=Endpoint A: no image uploaded", timeout=60_000)
    assert page.locator("[data-testid=toast-body]").count() >= 1
    page.get_by_role("tab", name="GAN", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=toast-body]').length === 0", timeout=10_000)
    page.get_by_role("tab", name="VAE", exact=True).click()
    page.locator("#vae-a-source label", has_text="held-out digit").click()


def test_models_table_keeps_short_columns_readable_at_1366_px(studio, page):
    """At a common laptop width, with descriptions as long as the real catalog's, the device, dtype and load (s)
    columns were squeezed into one letter a line."""
    url, reg = studio
    words = "a model with a description as long as the built-in models' descriptions are, and then some more "
    if "long-description" not in reg.keys():
        reg.register(ModelSpec(key="long-description", family="text", source="/nowhere/long-description",
                               loader="transformers-causal-lm", description=words * 3))
    pg = page.context.browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        pg.goto(url, wait_until="load")
        pg.get_by_role("tab", name="Models", exact=True).click()
        pg.locator("#models-load").click()  # a loaded row fills device, dtype and load (s)
        pg.wait_for_function("() => (document.querySelector('#models-table')?.innerText || '').includes('cpu')",
                             timeout=60_000)
        widths = pg.evaluate("""() => {
            const out = {};
            for (const cell of document.querySelectorAll('#models-table th')) {
                const name = cell.innerText.trim();
                if (['device', 'dtype', 'load (s)', 'family'].includes(name)) out[name] = cell.getBoundingClientRect().width;
            }
            return out;
        }""")
    finally:
        pg.close()
    assert set(widths) == {"device", "dtype", "load (s)", "family"}, widths
    assert min(widths.values()) >= 60, widths  # a short word fits on one line
