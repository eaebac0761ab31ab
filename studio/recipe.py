"""Run recipes: every engine call described as JSON, so a run can be exported, shared and reproduced.

A recipe names the family, the action (which engine function), the model key, every parameter and the seed,
plus the studio version that made it. ``run_recipe`` calls the engine function again with exactly those
arguments; ``Recipe.to_python()`` prints the few lines that do the same in a notebook.

Engine functions opt in with ``@engine_action(family, action)``. Only those can be named by a recipe, so a
recipe uploaded by a stranger can never call anything else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from studio import __version__
from studio.errors import StudioError
from studio.tabs import ENGINE_MODULES  # where each family's @engine_action functions live

RECIPE_FORMAT = "generative-studio-recipe/1"
ACTIONS: dict[tuple[str, str], Callable] = {}


def engine_actions(family: str | None = None) -> dict[tuple[str, str], Callable]:
    """The registered engine actions, importing the families' engine modules first (a fresh process may not
    have imported them yet; their ``@engine_action`` decorators fill ``ACTIONS`` on import)."""
    import importlib

    for name in ([family] if family in ENGINE_MODULES else ENGINE_MODULES):
        importlib.import_module(ENGINE_MODULES[name])
    return ACTIONS


def engine_action(family: str, action: str):
    """Register an engine function as ``(family, action)``; its signature is ``fn(bundle, *, seed, **params)``."""

    def decorate(fn):
        ACTIONS[(family, action)] = fn
        fn.recipe_action = (family, action)
        return fn

    return decorate


MAX_DEPTH = 16  # a run's parameters are numbers, strings and short lists: nesting deeper than this is no recipe


def _check_jsonable(value, path="params", depth=0):
    if depth > MAX_DEPTH:
        raise StudioError(f"Recipe value {path} is nested more than {MAX_DEPTH} levels deep; a recipe's parameters are "
                          "numbers, strings and short lists.")
    if isinstance(value, float) and not math.isfinite(value):
        raise StudioError(f"Recipe value {path} is {value}; recipes hold finite numbers only.")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise StudioError(f"Recipe key {k!r} in {path} must be a string.")
            _check_jsonable(v, f"{path}.{k}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_jsonable(v, f"{path}[{i}]", depth + 1)
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise StudioError(f"Recipe value {path} has type {type(value).__name__}; recipes hold JSON values only.")


@dataclass(frozen=True)
class Recipe:
    """One reproducible run.

    Args:
        family (`str`): ``text``, ``vae``, ``gan`` or ``diffusion``.
        action (`str`): the engine function's registered name, e.g. ``generate``, ``grid``.
        model (`str`): the registry key of the model.
        params (`dict`): every keyword argument of the engine call except ``seed``.
        seed (`int`, *optional*): the seed the run used (always concrete once a run has happened).
        version (`str`): the studio version that wrote it.
    """

    family: str
    action: str
    model: str
    params: dict = field(default_factory=dict)
    seed: int | None = None
    version: str = __version__

    def __post_init__(self):
        _check_jsonable(self.params)
        # Normalise tuples to lists so a recipe equals its own JSON round trip.
        object.__setattr__(self, "params", json.loads(json.dumps(self.params)))

    def to_dict(self) -> dict[str, Any]:
        return {"format": RECIPE_FORMAT, "family": self.family, "action": self.action, "model": self.model,
                "seed": self.seed, "params": self.params, "studio_version": self.version}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        if not isinstance(data, dict):
            raise StudioError("A recipe is a JSON object with family, action, model, seed and params.")
        if data.get("format") != RECIPE_FORMAT:
            raise StudioError(f"Not a studio recipe: 'format' must be {RECIPE_FORMAT!r}, got {data.get('format')!r}.")
        unknown = set(data) - {"format", "family", "action", "model", "seed", "params", "studio_version"}
        if unknown:
            raise StudioError(f"Unknown recipe field(s): {', '.join(sorted(unknown))}.")
        missing = [k for k in ("family", "action", "model", "params") if k not in data]
        if missing:
            raise StudioError(f"The recipe is missing: {', '.join(missing)}.")
        for k in ("family", "action", "model"):
            if not isinstance(data[k], str):
                raise StudioError(f"Recipe field {k!r} must be a string.")
        if not isinstance(data["params"], dict):
            raise StudioError("Recipe field 'params' must be an object.")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise StudioError(f"Recipe seed must be a whole number or null, got {seed!r}.")
        return cls(family=data["family"], action=data["action"], model=data["model"], params=data["params"],
                   seed=seed, version=str(data.get("studio_version", "unknown")))

    @classmethod
    def from_tab_box(cls, text: str, *, family: str, action: str, tab: str, verb: str) -> "Recipe":
        """A recipe pasted into a tab's Recipe box, checked to be the ``family``/``action`` that tab applies."""
        if text is not None and not isinstance(text, str):
            raise StudioError(f"A recipe is JSON text (as the {tab} tab's Recipe box shows it), got {type(text).__name__}.")
        if not (text or "").strip():
            raise StudioError(f"The recipe box is empty: {verb} something (its recipe appears here) or paste one.")
        r = cls.from_json(text)
        if r.family != family or r.action != action:
            raise StudioError(f"This is a {r.family}/{r.action} recipe; the {tab} tab applies {family}/{action} recipes.")
        return r

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        try:
            data = json.loads(text)
        except RecursionError:  # "[[[[…" nested past the parser's depth: malformed like any other
            raise StudioError(f"The recipe is not valid JSON: it is nested too deeply (more than {MAX_DEPTH} levels "
                              "make no recipe).") from None
        except (TypeError, ValueError) as err:
            raise StudioError(f"The recipe is not valid JSON: {err}.") from None
        return cls.from_dict(data)

    def engine_function(self) -> Callable:
        try:
            return engine_actions(self.family)[(self.family, self.action)]
        except KeyError:
            known = ", ".join(f"{f}/{a}" for f, a in sorted(engine_actions())) or "none"
            raise StudioError(f"No engine action {self.family}/{self.action}; known: {known}.") from None

    def to_python(self) -> str:
        """The few lines that reproduce this run with the engine, outside the app."""
        fn = self.engine_function()
        args = "".join(f",\n    {k}={v!r}" for k, v in self.params.items())
        return (f"# Reproduces a Generative Studio run (studio {self.version}).\n"
                f"from studio.config import Settings\n"
                f"from studio.catalog import registry_from_settings\n"
                f"from {fn.__module__} import {fn.__name__}\n\n"
                f"registry = registry_from_settings(Settings.from_env())\n"
                f"result = {fn.__name__}(\n    registry.get({self.model!r}),\n    seed={self.seed!r}{args},\n)\n")


def run_recipe(recipe: Recipe, registry) -> Any:
    """Call the recipe's engine function on the registry's model with the recipe's arguments."""
    spec = registry.spec(recipe.model)
    if spec.family != recipe.family:
        raise StudioError(f"Recipe is for the {recipe.family} family but model {recipe.model!r} is a {spec.family} model.")
    fn = recipe.engine_function()
    return fn(registry.get(recipe.model), seed=recipe.seed, **recipe.params)
