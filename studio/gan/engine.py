"""GAN sampling, written out: seeds -> latents (with truncation) -> generator -> images, judged.

Every image has its own seed: latent z and ("any" digit) its class are drawn from that seed's CPU generator,
so a grid of consecutive seeds is reproducible cell by cell, on CPU and GPU alike.

Truncation trades diversity for fidelity by keeping z away from the prior's thin tails:
* ``resample`` (BigGAN, Brock et al. 2018, https://arxiv.org/abs/1809.11096): redraw every component with
  |z_i| > threshold until none is left;
* ``rescale`` (the ψ trick of StyleGAN, Karras et al. 2019, https://arxiv.org/abs/1812.04948): z ← ψ·z, pulling
  every latent toward the prior's mean.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from studio.serving.batcher import shared
from studio.checks import number, whole_number
from studio.device import make_generator, offset_seed, resolve_seed
from studio.latent import lerp, path_t, slerp
from studio.recipe import engine_action

TRUNCATIONS = ("none", "resample", "rescale")
DIGITS = ("any", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")


def check_digit(digit) -> int | None:
    if digit is None or str(digit).strip().lower() == "any":
        return None
    try:
        d = int(str(digit).strip())
    except ValueError:
        raise ValueError(f"digit must be 'any' or 0..9, got {digit!r}.") from None
    if not 0 <= d <= 9 or str(d) != str(digit).strip():
        raise ValueError(f"digit must be 'any' or 0..9, got {digit!r}.")
    return d


def check_truncation(truncation: str, threshold: float, psi: float) -> None:
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {', '.join(TRUNCATIONS)}, got {truncation!r}.")
    number("threshold", threshold, 0.1, 4.0)
    number("psi", psi, 0.0, 1.0)


def seed_latent(seed: int, z_dim: int, *, truncation: str = "none", threshold: float = 2.0, psi: float = 1.0,
                num_classes: int = 10) -> tuple[torch.Tensor, int]:
    """(z (z_dim,), class) for one seed. z is drawn first, then the class, then any resampling, so the same
    seed gives the same z whatever digit is asked for."""
    g = make_generator(seed)
    z = torch.randn(z_dim, generator=g)  # (D,) on the CPU
    label = int(torch.randint(num_classes, (1,), generator=g))
    if truncation == "resample":
        out = z.abs() > threshold
        while out.any():  # redraw only the components beyond the threshold
            z[out] = torch.randn(int(out.sum()), generator=g)
            out = z.abs() > threshold
    elif truncation == "rescale":
        z = psi * z
    return z, label


def _judge(judge, images):
    if judge is None:
        return None, None
    pred, conf = shared("judge", judge, lambda x: judge.judge(x)[:2], images)
    return pred.tolist(), conf.tolist()


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Diversity: mean over pairs of the RMS pixel difference (images in [0, 1]); 0 = all identical."""
    n = images.shape[0]
    if n < 2:
        return 0.0
    flat = images.reshape(n, -1).double()  # (N, P)
    d = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # (N, N)
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def render(generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Latents (N, D) on the CPU -> images (N, 1, 28, 28) in [0, 1] on the CPU."""
    return shared("gan.render", generator, lambda zz, ll: _render(generator, zz, ll), z, labels)


@torch.no_grad()
def _render(generator, z, labels):
    p = next(generator.parameters())
    x = generator(z.to(p.device, p.dtype), labels.to(p.device))  # (N, 1, 28, 28) in [-1, 1]
    return ((x.float() + 1) / 2).clamp(0, 1).cpu()


@engine_action("gan", "grid")
@torch.no_grad()
def grid(bundle, *, seed: int | None = 0, n: int = 4, digit: str = "any", truncation: str = "none",
         threshold: float = 2.0, psi: float = 0.7, judge=None) -> dict:
    """An n×n grid of samples from consecutive seeds ``seed, seed+1, ...``.

    Args:
        bundle: the GAN's registry bundle (``bundle.model`` is the Generator).
        seed (`int`): the first seed.
        n (`int`, 1..8): grid side.
        digit (`str`): ``any`` (each seed draws its class) or ``0``..``9``.
        truncation (`str`): ``none``, ``resample`` (threshold) or ``rescale`` (psi).
        judge (`DigitJudge`, *optional*): labels each sample (prediction and confidence).

    Returns a dict: ``images`` (n², 1, 28, 28) in [0, 1], ``seeds``, ``labels`` asked for, ``judge_pred``,
    ``judge_conf``, ``diversity`` (mean pairwise RMS distance), ``latent_norms``.
    """
    n = whole_number("n (grid side)", n, 1, 8)
    return samples(bundle, seed=seed, count=n * n, digit=digit, truncation=truncation, threshold=threshold, psi=psi,
                   judge=judge)


def samples(bundle, *, seed: int | None = 0, count: int = 16, digit: str = "any", truncation: str = "none",
            threshold: float = 2.0, psi: float = 0.7, judge=None) -> dict:
    """``count`` samples from consecutive seeds ``seed, seed+1, ...`` (what :func:`grid` draws, any number of
    them: the Families tab asks for exactly as many as the other families). Same dict as :func:`grid`."""
    count = whole_number("count", count, 1, 1024)
    d = check_digit(digit)
    check_truncation(truncation, threshold, psi)
    seed = resolve_seed(seed)
    g = bundle.model
    seeds = [offset_seed(seed, i) for i in range(count)]  # past 2**32 - 1: 0, 1, ...
    zs, labels = zip(*(seed_latent(s, g.z_dim, truncation=truncation, threshold=threshold, psi=psi) for s in seeds))
    z = torch.stack(zs)  # (N, D)
    labels = torch.tensor(labels if d is None else [d] * len(seeds))  # (N,)
    images = render(g, z, labels)
    pred, conf = _judge(judge, images)
    return {"images": images, "seeds": seeds, "labels": labels.tolist(), "judge_pred": pred, "judge_conf": conf,
            "diversity": mean_pairwise_distance(images), "latent_norms": z.norm(dim=1).tolist()}


@engine_action("gan", "interpolate")
@torch.no_grad()
def interpolate(bundle, *, seed: int | None = 0, seed_b: int = 1, steps: int = 8, digit: str = "any",
                truncation: str = "none", threshold: float = 2.0, psi: float = 0.7, judge=None) -> dict:
    """Strips from seed A to seed B by lerp and by slerp. With ``digit="any"`` the class embedding is
    interpolated too, so one digit morphs into another."""
    steps = whole_number("steps", steps, 2, 32)
    d = check_digit(digit)
    check_truncation(truncation, threshold, psi)
    seed, seed_b = resolve_seed(seed), resolve_seed(seed_b)
    g = bundle.model
    za, la = seed_latent(seed, g.z_dim, truncation=truncation, threshold=threshold, psi=psi)
    zb, lb = seed_latent(seed_b, g.z_dim, truncation=truncation, threshold=threshold, psi=psi)
    la, lb = (la, lb) if d is None else (d, d)
    t = path_t(steps)  # (S, 1)
    out = {"seeds": [seed, seed_b], "labels": [la, lb], "t": t[:, 0].tolist()}
    for name, fn in (("lerp", lerp), ("slerp", slerp)):
        z = fn(za, zb, t)  # (S, D)
        images = morph(g, z, la, lb, t)
        out[name] = images
        out[f"{name}_norms"] = z.norm(dim=1).tolist()
        out[f"{name}_judge"] = _judge(judge, images)
    return out


@torch.no_grad()
def morph(g, z: torch.Tensor, label_a: int, label_b: int, t: torch.Tensor) -> torch.Tensor:
    """Render latents (S, D) with the class embedding interpolated from label_a to label_b along t (S, 1)."""
    p = next(g.parameters())
    ea = g.embed.weight[label_a].float().cpu()
    eb = g.embed.weight[label_b].float().cpu()
    e = lerp(ea, eb, t)  # (S, E)
    h = torch.cat([z, e], dim=1)[:, :, None, None].to(p.device, p.dtype)  # (S, D+E, 1, 1)
    return ((g.net(h).float() + 1) / 2).clamp(0, 1).cpu()


@engine_action("gan", "walk")
@torch.no_grad()
def walk(bundle, *, seed: int | None = 0, stops: int = 4, frames_per_leg: int = 12, digit: str = "any",
         truncation: str = "none", threshold: float = 2.0, psi: float = 0.7) -> dict:
    """A looping latent walk: slerp through seeds seed, seed+1, ..., seed+stops-1 and back to the first.

    Returns ``frames`` (stops × frames_per_leg, 1, 28, 28) in [0, 1] and the ``seeds`` visited.
    """
    stops, frames_per_leg = whole_number("stops", stops, 2, 16), whole_number("frames_per_leg", frames_per_leg, 2, 60)
    d = check_digit(digit)
    check_truncation(truncation, threshold, psi)
    seed = resolve_seed(seed)
    g = bundle.model
    seeds = [offset_seed(seed, i) for i in range(stops)]
    points = [seed_latent(s, g.z_dim, truncation=truncation, threshold=threshold, psi=psi) for s in seeds]
    t = torch.linspace(0, 1, frames_per_leg + 1)[:-1, None]  # (F, 1), the end is the next leg's start
    frames = []
    for (za, la), (zb, lb) in itertools.pairwise(points + points[:1]):
        la, lb = (la, lb) if d is None else (d, d)
        frames.append(morph(g, slerp(za, zb, t), la, lb, t))
    return {"frames": torch.cat(frames), "seeds": seeds}


def training_story(bundle) -> dict:
    """The checkpoint's training log and snapshot files (if shipped): ``history`` rows and ``snapshots``
    as [(path, step, epoch)]."""
    import json

    folder = getattr(bundle, "folder", None)
    story = {"history": [], "snapshots": []}
    if folder is None:
        return story
    if (folder / "training_log.json").is_file():
        story["history"] = json.loads((folder / "training_log.json").read_text())
    if (folder / "snapshots.json").is_file():
        inside = Path(folder).resolve()
        for s in json.loads((folder / "snapshots.json").read_text()):
            path = (Path(folder) / str(s.get("file", ""))).resolve()
            # a snapshot is a file of the model's own folder: "../../etc/passwd" or an absolute path is not shown
            if path.is_relative_to(inside) and path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                story["snapshots"].append((str(path), s["step"], s.get("epoch")))
    return story
