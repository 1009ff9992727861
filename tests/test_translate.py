"""Word-by-word translation of English questions for the lexical search: FreeDict's dictd
files read, both directions merged, endings and function words, and the question's terms
in the pipeline."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.qa import translate
from vraagbaak.qa.pipeline import Pipeline
from vraagbaak.qa.translate import build, installed, read_dictd

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if not n:
            return out


def write_dictd(folder: Path, name: str, entries: dict[str, str]) -> None:
    """A dictd dictionary as dictfmt writes it: the articles one after another in a gzip
    file, an index of headword, base-64 offset and length."""
    body, index = b"", ["00databaseinfo\tA\tB"]
    for head, article in entries.items():
        data = f"{head}\n{article}\n".encode()
        index.append(f"{head}\t{_b64(len(body))}\t{_b64(len(data))}")
        body += data
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(body))
    (folder / f"{name}.index").write_text("\n".join(index) + "\n", "utf-8")


@pytest.fixture
def dictd(tmp_path: Path) -> Path:
    folder = tmp_path / "dictd"
    write_dictd(folder, translate.ENGLISH_DUTCH, {
        "cost": "1. kosten, kostprijs\n2. onkosten",
        "municipality": "gemeente",
        "member": "lid",
        "take": "nemen, pakken",
        "part": "deel, gedeelte",
        "can": "blik, kunnen",
        "deal": "transactie, overeenkomst (zakelijk)",
        "theme": "thema, onderwerp",
        "them": "hen, hun",
        "alderman": "wethouder",
        "characterize": "typeren",
        "cooperate": "samenwerken",
        "behavior": "gedrag",
    })
    write_dictd(folder, translate.DUTCH_ENGLISH, {
        "gemeente": "municipality, community",
        "raadslid": "councillor, council member",
        "wijk": "district, neighbourhood",
    })
    return folder


def test_dictd_files_are_read_and_both_directions_merged(dictd: Path) -> None:
    entries = read_dictd(dictd, translate.ENGLISH_DUTCH)
    assert ("cost", ["kosten", "kostprijs", "onkosten"]) in entries  # every sense, in order
    assert all(head != "00databaseinfo" for head, _ in entries)
    d = build(entries, read_dictd(dictd, translate.DUTCH_ENGLISH))
    assert d.translations("cost") == ("kosten", "kostprijs", "onkosten")
    assert d.translations("municipality") == ("gemeente",)  # not twice
    assert d.translations("district") == ("wijk",)  # from the Dutch-English entries
    assert "overeenkomst (zakelijk)" not in d.translations("deal")  # plain words only
    assert d.translations("council") == ()  # "council member" is not one word


def test_endings_and_function_words(dictd: Path) -> None:
    d = installed(dictd)
    assert d is not None and len(d) > 5
    assert d.translations("members") == ("lid",)
    assert d.translations("costs") == ("kosten", "kostprijs", "onkosten")
    assert d.translations("municipalities") == ("gemeente",)
    assert d.translations("Cost") == d.translations("cost")
    assert d.translations("nonsense") == ()
    assert d.translations("themes") == ("thema", "onderwerp")  # not "them"
    assert d.translations("aldermen") == ("wethouder",)
    assert d.translations("characterise") == ("typeren",)  # British spelling
    assert d.translations("characterised") == ("typeren",)
    assert d.translations("behaviour") == ("gedrag",)
    assert d.translations("cooperation") == ("samenwerken",)
    words = d.dutch_words("How much can a member take? What does it cost?", per_word=2)
    assert words == ["lid", "nemen", "pakken", "kosten", "kostprijs"]  # "can" is left out


def test_missing_or_broken_dictionaries_give_none(tmp_path: Path, dictd: Path) -> None:
    assert installed(tmp_path / "nowhere") is None
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in dictd.iterdir():
        (broken / f.name).write_bytes(b"not gzip" if f.name.endswith(".dz") else f.read_bytes())
    assert installed(broken) is None


def test_an_english_question_gets_the_dutch_translations_of_its_words(
    small: Settings, dictd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = installed(dictd)
    monkeypatch.setattr(translate, "installed", lambda *_: fixture)
    vb = Vraagbaak(small)
    pipe = Pipeline(vb.index, vb.encoder, small)
    terms = set(vb.index.analyzer.terms("gemeente"))
    english = "How many municipalities take part in the Village Deals?"
    q = pipe.question(english)
    assert terms <= set(q.terms) and all(t in q.idf for t in q.terms)
    assert pipe.question(english).terms == q.terms  # the same every time
    # its own words come first, unchanged
    off = small.with_(retrieval=small.retrieval.with_(translate=False))
    plain = Pipeline(vb.index, vb.encoder, off).question(english)
    assert q.terms[: len(plain.terms)] == plain.terms and not terms <= set(plain.terms)
    # the BM25 scores of the passages about municipalities rise
    assert (vb.index.lexical_scores(q.terms) > vb.index.lexical_scores(plain.terms)).any()
    # a Dutch question is not translated
    dutch = "Hoeveel gemeenten doen mee aan de Village Deals?"
    assert pipe.question(dutch).terms == Pipeline(vb.index, vb.encoder, off).question(dutch).terms
    # nor with no translations per word
    none = small.with_(retrieval=small.retrieval.with_(translations_per_word=0))
    assert Pipeline(vb.index, vb.encoder, none).question(english).terms == plain.terms


@pytest.mark.skipif(installed() is None, reason="FreeDict's dictionaries are not installed "
                    "(apt install dict-freedict-eng-nld dict-freedict-nld-eng)")
def test_the_installed_dictionaries() -> None:
    d = installed()
    assert d is not None and len(d) > 10_000
    assert "kosten" in d.translations("cost")
    assert "paspoort" in d.translations("passports")
