"""The data the studio needs ships in the repository; corpora are fetched with a checksum; no user-facing text
names this project's machines' folders."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from studio import data
from studio.config import REPO_ROOT

LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_the_mnist_split_ships_in_the_repo_exactly_as_distributed():
    for entry in data.MNIST_FILES:
        path = data.REPO_DATA / entry.path
        assert path.stat().st_size == entry.size
        assert data.sha256_of(path) == entry.sha256, entry.path
    images, labels = data._mnist_arrays(str(data.REPO_DATA))
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == LABEL_COUNTS
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    if tracked:  # a git checkout: the files are committed, not left lying about
        assert {e.path for e in data.MNIST_FILES} <= {p.removeprefix("data/") for p in tracked}


def test_the_data_card_gives_every_checksum_and_the_licence():
    card = (data.REPO_DATA / "README.md").read_text()
    for entry in (*data.MNIST_FILES, *data.CORPORA.values()):
        assert entry.sha256 in card and f"{entry.size:,}" in card, entry.path
    for words in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0", "0..8999", "9000..9999", data.FETCH_COMMAND):
        assert words in card, words


def test_splits_follow_the_conventions():
    x_train, y_train = data.load_mnist("train", data.REPO_DATA)
    x_held, y_held = data.load_mnist("heldout", data.REPO_DATA)
    assert x_train.shape == (9000, 1, 28, 28) and x_held.shape == (1000, 1, 28, 28)
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0
    _, labels = data._mnist_arrays(str(data.REPO_DATA))
    assert y_held.tolist() == labels[9000:].tolist()


def test_the_default_folder_is_the_repos_and_studio_data_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDIO_DATA", raising=False)
    assert data.default_data_dir() == REPO_ROOT / "data"
    monkeypatch.setenv("STUDIO_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.setenv("STUDIO_DATA", "")
    assert data.default_data_dir() == REPO_ROOT / "data"


def test_a_missing_corpus_says_which_file_where_and_the_command(tmp_path):
    with pytest.raises(data.DataMissingError) as err:
        data.load_shakespeare("train", tmp_path)
    msg = str(err.value)
    assert "tinyshakespeare.txt" in msg and str(tmp_path / "tinyshakespeare.txt") in msg
    assert "python -m studio.data fetch" in msg and "shared" not in msg
    assert isinstance(err.value, FileNotFoundError)
    reason = data.missing_reason("shakespeare", tmp_path)
    assert str(tmp_path) in reason and data.FETCH_COMMAND in reason


def test_missing_mnist_says_it_ships_with_the_repo(tmp_path):
    with pytest.raises(data.DataMissingError) as err:
        data.load_mnist("heldout", tmp_path)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg and "git checkout -- data/" in msg


def _local_corpus(monkeypatch, tmp_path, text: bytes, sha256: str):
    source = tmp_path / "source.txt"
    source.write_bytes(text)
    entry = dataclasses.replace(data.CORPORA["shakespeare"], url=source.as_uri(), sha256=sha256, size=len(text))
    monkeypatch.setitem(data.CORPORA, "shakespeare", entry)
    monkeypatch.delitem(data.CORPORA, "tang")  # fetch(None) fetches every corpus: here only this one
    return entry


def test_fetch_assembles_the_tang_poems_from_their_parts(monkeypatch, tmp_path):
    """The corpus is the project's JSON files concatenated: each record keeps title, author, paragraphs in that
    order, one JSON object a line (extra fields such as ``id`` and ``tags`` dropped), checked by its sha256."""
    import hashlib
    import json

    source = tmp_path / "source"
    source.mkdir()
    parts = [[{"author": "王之渙", "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"], "title": "登鸛雀樓",
               "id": "x1", "tags": ["五言绝句"]}],
             [{"author": "孟浩然", "paragraphs": ["春眠不覺曉，處處聞啼鳥。"], "title": "春曉", "id": "x2"}]]
    for i, part in enumerate(parts):
        (source / f"poet.tang.{i * 1000}.json").write_text(json.dumps(part, ensure_ascii=False, indent=4),
                                                            encoding="utf-8")
    want = "".join(json.dumps({"title": r["title"], "author": r["author"], "paragraphs": r["paragraphs"]},
                              ensure_ascii=False) + "\n" for part in parts for r in part).encode()
    entry = dataclasses.replace(data.CORPORA["tang"], url=source.as_uri() + "/",
                                parts=("poet.tang.0.json", "poet.tang.1000.json"),
                                sha256=hashlib.sha256(want).hexdigest(), size=len(want))
    monkeypatch.setitem(data.CORPORA, "tang", entry)
    [path] = data.fetch(["tang"], tmp_path / "data", log=lambda _: None)
    assert path == tmp_path / "data" / "tang-poems" / "tang-poems.jsonl" and path.read_bytes() == want
    assert data.load_tang("all", tmp_path / "data", script="traditional")[1] == "春眠不覺曉，處處聞啼鳥。\n\n"
    assert data.load_tang("all", tmp_path / "data")[0].startswith("白日依山尽，黄河入海流。\n")
    monkeypatch.setitem(data.CORPORA, "tang", dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(ValueError, match="expected 0000"):
        data.fetch(["tang"], tmp_path / "other", log=lambda _: None)


def test_fetch_downloads_checks_the_checksum_and_skips_what_is_there(monkeypatch, tmp_path):
    import hashlib

    text = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"
    _local_corpus(monkeypatch, tmp_path, text, hashlib.sha256(text).hexdigest())
    out = tmp_path / "data"
    lines = []
    [path] = data.fetch(["shakespeare"], out, log=lines.append)
    assert path == out / "tinyshakespeare.txt" and path.read_bytes() == text
    assert data.load_shakespeare("all", out) == text.decode()
    data.fetch(None, out, log=lines.append)
    assert "already there" in lines[-1]
    assert data.check(out)["tinyshakespeare.txt"] == "ok"
    path.write_bytes(b"changed")
    assert data.check(out)["tinyshakespeare.txt"] == "checksum differs"


def test_fetch_refuses_a_download_with_the_wrong_checksum(monkeypatch, tmp_path):
    _local_corpus(monkeypatch, tmp_path, b"not shakespeare", "0" * 64)
    out = tmp_path / "data"
    with pytest.raises(ValueError, match="expected 0000"):
        data.fetch(["shakespeare"], out, log=lambda _: None)
    assert not (out / "tinyshakespeare.txt").exists() and not list(out.glob("*.part"))


def test_fetch_without_a_network_says_so(monkeypatch, tmp_path):
    entry = dataclasses.replace(data.CORPORA["shakespeare"], url=(tmp_path / "nowhere.txt").as_uri())
    monkeypatch.setitem(data.CORPORA, "shakespeare", entry)
    with pytest.raises(OSError, match="network connection"):
        data.fetch(["shakespeare"], tmp_path / "data", log=lambda _: None)
    with pytest.raises(ValueError, match="unknown corpus"):
        data.fetch(["poems-of-nowhere"], tmp_path)


def test_the_command_line_checks_the_shipped_files():
    env_free = {k: v for k, v in __import__("os").environ.items() if k != "STUDIO_DATA"}
    out = subprocess.run([sys.executable, "-m", "studio.data", "check"], cwd=REPO_ROOT, env=env_free,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok  mnist/t10k-images-idx3-ubyte.gz" in out.stdout


def user_facing_files():
    """Everything a user reads: docs, model cards and their JSON, the code's strings (help texts, messages)."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    paths = [REPO_ROOT / p for p in listed] if listed else list(REPO_ROOT.rglob("*"))
    for path in paths:
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith(("tests/", ".ci/", ".git/")) or not path.is_file():
            continue
        if path.suffix in (".md", ".json", ".py", ".txt", ".sh", ".yaml", ".yml", ".cfg", ".ini"):
            yield rel, path


def test_no_user_facing_text_names_this_projects_machines_folders():
    offenders = [rel for rel, path in user_facing_files()
                 if "shared/data" in path.read_text(errors="ignore") or "../shared" in path.read_text(errors="ignore")]
    assert offenders == []
