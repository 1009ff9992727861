"""The development question sets in bench/data are well formed: every evidence string is
found in its source exactly, unanswerable questions carry none, and the English
translations match their Dutch originals line for line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CORPUS

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
SETS = {
    "reports-dev.jsonl": CORPUS,
    "reports-dev-en.jsonl": CORPUS,
    "gov-dev/questions.jsonl": DATA / "gov-dev" / "pages",
    "gov-dev/questions-en.jsonl": DATA / "gov-dev" / "pages",
}


def _read(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (DATA / name).read_text("utf-8").splitlines() if line]


@pytest.mark.parametrize("name", sorted(SETS))
def test_evidence_is_found_in_its_source(name: str) -> None:
    rows = _read(name)
    assert len({r["id"] for r in rows}) == len(rows)
    answerable = [r for r in rows if r["answerable"]]
    assert answerable and len(answerable) < len(rows)  # both kinds are there
    for r in rows:
        evidence = r["evidence"]
        assert isinstance(evidence, list)
        if not r["answerable"]:
            assert evidence == [] and r["source"] is None, r["id"]
            continue
        text = (SETS[name] / str(r["source"])).read_text("utf-8")
        assert evidence and all(isinstance(e, str) and e in text for e in evidence), r["id"]


@pytest.mark.parametrize("dutch,english", [("reports-dev.jsonl", "reports-dev-en.jsonl"),
                                           ("gov-dev/questions.jsonl",
                                            "gov-dev/questions-en.jsonl")])
def test_english_translations_match_their_originals(dutch: str, english: str) -> None:
    nl, en = _read(dutch), _read(english)
    assert [r["id"] for r in nl] == [r["id"] for r in en]
    for a, b in zip(nl, en, strict=True):
        assert {k: v for k, v in a.items() if k not in ("question", "lang")} == {
            k: v for k, v in b.items() if k not in ("question", "lang")}
        assert a["lang"] == "nl" and b["lang"] == "en" and a["question"] != b["question"]


def test_kept_out_pages_are_not_in_the_collection() -> None:
    pages = {p.name for p in (DATA / "gov-dev" / "pages").glob("*.txt")}
    kept_out = {p.name for p in (DATA / "gov-dev" / "held-out-pages").glob("*.txt")}
    assert len(pages) == 24 and kept_out and not pages & kept_out
