import json

import pytest
import torch

from studio.device import make_generator, randn
from studio.errors import StudioError
from studio.recipe import Recipe, engine_action, run_recipe
from studio.registry import ModelRegistry, ModelSpec


@engine_action("text", "test_continue")
def continue_text(bundle, *, seed, prompt, n_tokens=5, temperature=1.0):
    """A real (small) sampling engine call used to check that a recipe reproduces its run."""
    ids = torch.tensor([bundle.tokenizer(prompt)["input_ids"]])
    gen = make_generator(seed)
    for _ in range(n_tokens):
        logits = bundle.model(ids).logits[0, -1] / temperature  # (V,)
        u = randn((1,), generator=gen)  # consume the generator the way a sampler would
        probs = torch.softmax(logits + 0.0 * u, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        ids = torch.cat([ids, nxt[None]], dim=1)
    return bundle.tokenizer.decode(ids[0])


def test_round_trip_json():
    r = Recipe(family="gan", action="grid", model="mnist-dcgan", params={"n": 4, "psi": 0.7, "digit": None,
                                                                        "sizes": (1, 2)}, seed=42)
    text = r.to_json()
    back = Recipe.from_json(text)
    assert back == r and back.params["sizes"] == [1, 2]
    data = json.loads(text)
    assert data["format"] == "generative-studio-recipe/1" and data["seed"] == 42 and "studio_version" in data


def test_round_trip_reproduces_the_call(tiny_text_dir):
    reg = ModelRegistry([ModelSpec(key="tiny", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm")], device="cpu")
    recipe = Recipe(family="text", action="test_continue", model="tiny",
                    params={"prompt": "the ", "n_tokens": 8, "temperature": 1.3}, seed=1234)
    direct = continue_text(reg.get("tiny"), seed=1234, prompt="the ", n_tokens=8, temperature=1.3)
    again = run_recipe(Recipe.from_json(recipe.to_json()), reg)
    assert again == direct
    other = run_recipe(Recipe.from_json(recipe.to_json().replace("1234", "1235")), reg)
    assert other != direct  # the seed matters (8 characters from a near-uniform model)
    code = recipe.to_python()
    compile(code, "<recipe>", "exec")
    assert "from tests.test_recipe import continue_text" in code and "seed=1234" in code and "temperature=1.3" in code


@pytest.mark.parametrize("text, msg", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "is a JSON object"),
    ('{"format": "x"}', "Not a studio recipe"),
    ('{"format": "generative-studio-recipe/1", "family": "gan", "action": "grid", "model": "m", "params": {}, '
     '"evil": 1}', "Unknown recipe field"),
    ('{"format": "generative-studio-recipe/1", "family": "gan", "action": "grid", "model": "m"}', "missing: params"),
    ('{"format": "generative-studio-recipe/1", "family": "gan", "action": "grid", "model": "m", "params": {}, '
     '"seed": "7"}', "seed must be a whole number"),
    ('{"format": "generative-studio-recipe/1", "family": "gan", "action": "grid", "model": "m", "params": '
     '{"psi": NaN}}', "finite numbers only"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON: it is nested too deeply"),  # past the parser: RecursionError
    ('{"format": "generative-studio-recipe/1", "family": "gan", "action": "grid", "model": "m", "params": '
     '{"psi": ' + "[" * 500 + "]" * 500 + '}}', "nested more than 16 levels"),  # parsed, then refused
])
def test_bad_recipes_are_refused_with_a_reason(text, msg):
    with pytest.raises(StudioError, match=msg):
        Recipe.from_json(text)


def test_recipe_can_only_name_registered_actions(tiny_text_dir):
    reg = ModelRegistry([ModelSpec(key="tiny", family="text", source=str(tiny_text_dir),
                                   loader="transformers-causal-lm")], device="cpu")
    with pytest.raises(StudioError, match="No engine action text/os.system"):
        run_recipe(Recipe(family="text", action="os.system", model="tiny", params={}), reg)
    with pytest.raises(StudioError, match="is a text model"):
        run_recipe(Recipe(family="gan", action="test_continue", model="tiny", params={}), reg)


def test_to_python_works_in_a_fresh_process():
    """The action table used to fill only when an engine module happened to be imported."""
    import subprocess
    import sys

    from studio.config import REPO_ROOT

    code = ("from studio.recipe import Recipe\n"
            "print(Recipe(family='gan', action='grid', model='mnist-dcgan', params={'n': 2}, seed=3).to_python())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "from studio.gan.engine import grid" in out.stdout and "seed=3" in out.stdout


def test_a_png_whose_recipe_is_nested_too_deeply_is_refused_with_the_same_message(tmp_path):
    from PIL import Image, PngImagePlugin

    from studio.diffusion.text_to_image.recipes_tab import RECIPE_CHUNK, recipe_in_png

    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_CHUNK, "[" * 50_000 + "]" * 50_000)
    Image.new("L", (4, 4)).save(tmp_path / "deep.png", pnginfo=info)
    with pytest.raises(StudioError, match="not valid JSON: it is nested too deeply"):
        recipe_in_png(str(tmp_path / "deep.png"))
