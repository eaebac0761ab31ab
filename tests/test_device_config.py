import pytest
import torch

from studio.config import Settings
from studio.device import MAX_SEED, make_generator, pick_device, pick_dtype, randn, resolve_seed
from studio.spaces_compat import GPU


def test_pick_device_auto_and_named():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device("auto").type == expected
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_pick_device_cuda_without_gpu_says_so():
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        pick_device("cuda")


def test_pick_device_rejects_nonsense():
    with pytest.raises(ValueError, match="not a device name"):
        pick_device("gpu please")


def test_dtype_policy():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for family in ("text", "vae", "gan", "diffusion", "judge"):
        assert pick_dtype(family, cpu) == torch.float32
    assert pick_dtype("diffusion", cuda) == torch.float16
    assert pick_dtype("text", cuda) in (torch.bfloat16, torch.float16)
    assert pick_dtype("vae", cuda) == torch.float32
    assert pick_dtype("gan", cuda) == torch.float32
    assert pick_dtype("text", cpu, "bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype 'fp8'"):
        pick_dtype("text", cpu, "fp8")


def test_same_seed_same_noise_and_independent_generators():
    a = randn((4, 8), generator=make_generator(123))
    b = randn((4, 8), generator=make_generator(123))
    c = randn((4, 8), generator=make_generator(124))
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = make_generator(5)
    first, second = randn((3,), generator=g), randn((3,), generator=g)
    assert not torch.equal(first, second)  # a generator advances; a fresh one restarts
    assert torch.equal(first, randn((3,), generator=make_generator(5)))
    half = randn((4, 8), generator=make_generator(123), dtype=torch.float16)
    assert half.dtype == torch.float16 and torch.allclose(half.float(), a, atol=1e-2)


def test_noise_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    randn((10,), generator=make_generator(99))
    assert torch.equal(torch.rand(3), expected)


def test_resolve_seed():
    assert resolve_seed(7) == 7 and resolve_seed(7.0) == 7
    assert 0 <= resolve_seed(-1) <= MAX_SEED and 0 <= resolve_seed(None) <= MAX_SEED
    for bad, msg in [(-5, "between 0 and"), (2**32, "between 0 and"), (1.5, "whole number"), ("3", "whole number"),
                     (float("nan"), "whole number"), (True, "whole number")]:
        with pytest.raises(ValueError, match=msg):
            resolve_seed(bad)


def test_spaces_shim_is_transparent():
    def f(x):
        return x + 1

    assert GPU(f) is f and GPU(duration=30)(f) is f
    assert not hasattr(GPU(f), "__wrapped__")  # a self-referencing __wrapped__ hangs inspect.signature


def test_settings_from_env(tmp_path):
    s = Settings.from_env({})
    assert (s.device, s.max_loaded, s.preload, s.hosted, s.allow_hub) == ("auto", 8, (), False, True)
    s = Settings.from_env({"STUDIO_HOSTED": "1", "STUDIO_PRELOAD": "a, b", "STUDIO_MAX_LOADED": "2",
                           "STUDIO_CHECKPOINTS": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert s.hosted and not s.allow_hub and s.preload == ("a", "b") and s.max_loaded == 2 and s.hub_offline
    assert s.checkpoints_dir == tmp_path
    assert Settings.from_env({"STUDIO_HOSTED": "1", "STUDIO_ALLOW_HUB": "yes"}).allow_hub
    assert Settings.from_env({"STUDIO_PRELOAD": "1"}).preload == ("*",)
    assert s.warm_imports and not Settings.from_env({"STUDIO_WARM_IMPORTS": "0"}).warm_imports
    with pytest.raises(ValueError, match="STUDIO_MAX_LOADED=0 must be at least 1"):
        Settings.from_env({"STUDIO_MAX_LOADED": "0"})
    with pytest.raises(ValueError, match="not a yes/no value"):
        Settings.from_env({"STUDIO_HOSTED": "maybe"})


def test_limit_malloc_arenas_reads_the_environment():
    import platform

    import pytest

    from studio.device import limit_malloc_arenas

    assert limit_malloc_arenas({"STUDIO_MALLOC_ARENAS": "0"}) is None  # off
    assert limit_malloc_arenas({"MALLOC_ARENA_MAX": "4"}) is None  # glibc's own variable decides
    with pytest.raises(ValueError, match="STUDIO_MALLOC_ARENAS='many' is not a whole number"):
        limit_malloc_arenas({"STUDIO_MALLOC_ARENAS": "many"})
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas({}) == 2


def test_malloc_trimmer_reads_the_environment_and_starts_a_daemon_thread():
    import platform
    import threading

    import pytest

    from studio.device import start_malloc_trimmer

    assert start_malloc_trimmer({"STUDIO_MALLOC_TRIM_S": "0"}) is None  # off
    with pytest.raises(ValueError, match="STUDIO_MALLOC_TRIM_S='often' is not a whole number"):
        start_malloc_trimmer({"STUDIO_MALLOC_TRIM_S": "often"})
    with pytest.raises(ValueError, match="STUDIO_MALLOC_TRIM_S=-5 must be at least 0"):
        start_malloc_trimmer({"STUDIO_MALLOC_TRIM_S": "-5"})
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        before = sum(t.name == "malloc-trim" for t in threading.enumerate())
        assert start_malloc_trimmer({"STUDIO_MALLOC_TRIM_S": "3600"}) == 3600
        trimmers = [t for t in threading.enumerate() if t.name == "malloc-trim"]
        assert len(trimmers) == before + 1 and all(t.daemon for t in trimmers)  # never keeps the process alive
