"""Shared fixtures: all user state in temporary folders, a fast fake encoder, and one
real index of the bundled corpus per test session."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.index.encoders import register_encoder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"


class HashEncoder:
    """A deterministic bag-of-words hashing encoder: fast, no model, good enough to test
    plumbing (same words -> similar vectors)."""

    def __init__(self, arg: str = "") -> None:
        self.dim_ = int(arg) if arg else 64
        self.id = f"fake:{self.dim_}"
        self.calls = 0
        self.texts = 0

    @property
    def dim(self) -> int:
        return self.dim_

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim_), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
                out[i, h % self.dim_] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return out / norms


FAKE_ENCODERS: dict[str, HashEncoder] = {}


def _fake_factory(arg: str) -> HashEncoder:
    enc = HashEncoder(arg)
    FAKE_ENCODERS[arg] = enc
    return enc


register_encoder("fake", _fake_factory)


@pytest.fixture(scope="session")
def _models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the models exported on first use (the e5 ONNX model), per session."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolate_user_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _models: Path
) -> None:
    """No test touches the real home folder: index and cache default to temp folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VRAAGBAAK_INDEX", str(home / "index"))
    monkeypatch.setenv("VRAAGBAAK_CACHE", str(home / "cache"))
    monkeypatch.setenv("VRAAGBAAK_MODELS", str(_models))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the whole session (real-model indexes reuse vectors)."""
    return tmp_path_factory.mktemp("emb-cache")


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Settings:
    """The bundled corpus indexed once with the real default encoder (e5)."""
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("corpus") / "index", cache_dir=shared_cache
    )
    Vraagbaak(settings).ingest([CORPUS])
    return settings


@pytest.fixture(scope="session")
def vb(corpus_index: Settings) -> Vraagbaak:
    return Vraagbaak(corpus_index)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The bundled corpus indexed with the fast fake encoder, once per test module."""
    root = tmp_path_factory.mktemp("small")
    s = Settings(index_dir=root / "index", cache_dir=root / "cache", encoder="fake:64")
    Vraagbaak(s).ingest([CORPUS])
    return s


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", cache_dir=tmp_path / "cache", encoder="fake:64")


# A tiny SQuAD-style file: two articles, three paragraphs, four questions.
MINI_SQUAD: dict[str, Any] = {"data": [
    {"title": "Rivieren", "paragraphs": [
        {"context": "De Rijn stroomt door Duitsland en Nederland en mondt uit in de Noordzee. "
                    "Bij Lobith komt de rivier Nederland binnen.",
         "qas": [{"id": "r1", "question": "Waar komt de Rijn Nederland binnen?",
                  "answers": [{"text": "Lobith", "answer_start": 80}]},
                 {"id": "r2", "question": "In welke zee mondt de Rijn uit?",
                  "answers": [{"text": "de Noordzee", "answer_start": 60}]}]},
        {"context": "De Maas ontspringt in Frankrijk op het plateau van Langres. Ze is "
                    "ongeveer 925 kilometer lang.",
         "qas": [{"id": "m1", "question": "Hoe lang is de Maas?",
                  "answers": [{"text": "925 kilometer", "answer_start": 70}]}]},
    ]},
    {"title": "Bakken", "paragraphs": [
        {"context": "Brood rijst doordat gist suikers omzet in koolzuurgas. Een warme plek "
                    "versnelt het rijzen van het deeg.",
         "qas": [{"id": "b1", "question": "Waarom rijst brood?",
                  "answers": [{"text": "gist suikers omzet in koolzuurgas",
                               "answer_start": 24}]}]},
    ]},
]}
