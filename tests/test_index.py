"""Persistence, incremental re-ingest and integrity, with the fast fake encoder."""

import json
import os
from pathlib import Path

import pytest

from vraagbaak import IndexCorruptError, Settings, Vraagbaak
from vraagbaak.errors import EncoderMismatchError, IndexLockedError, InputError
from vraagbaak.index.layout import live_generation, write_lock
from vraagbaak.index.reader import Index

from .conftest import FAKE_ENCODERS


def test_build_and_reload(corpus_copy: Path, fake_settings: Settings) -> None:
    vb = Vraagbaak(fake_settings)
    report = vb.ingest([corpus_copy])
    assert report.documents == 5 and report.chunks > 50
    ix = Index.open(fake_settings.index_dir)
    assert len(ix.chunks) == report.chunks
    assert ix.manifest["encoder"]["id"] == "fake:64"
    assert {s.sha256 for s in ix.sources} == {
        __import__("hashlib").sha256(p.read_bytes()).hexdigest() for p in corpus_copy.glob("*.txt")
    }
    for c in ix.chunks:
        assert ix.source_text(c.source)[c.start : c.end] == c.text
    assert ix.faiss_index.ntotal == len(ix.chunks)
    assert ix.passage_vectors.shape == (len(ix.chunks), 64)


def test_unchanged_reingest_embeds_nothing(corpus_copy: Path, fake_settings: Settings) -> None:
    vb = Vraagbaak(fake_settings)
    vb.ingest([corpus_copy])
    enc = FAKE_ENCODERS["64"]
    before = enc.texts
    report = vb.ingest([corpus_copy])
    assert report.up_to_date
    assert enc.texts == before


def test_changed_added_removed(corpus_copy: Path, fake_settings: Settings) -> None:
    vb = Vraagbaak(fake_settings)
    vb.ingest([corpus_copy])
    enc = FAKE_ENCODERS["64"]
    gen_before = live_generation(fake_settings.index_dir)
    target = corpus_copy / "gemeentenu-hoera-stemming-integraal-werken.txt"
    target.write_text(
        target.read_text("utf-8") + "\n\nEen nieuwe alinea over de Teylingse Ton.\n", "utf-8"
    )
    (corpus_copy / "nieuw.md").write_text("# Nieuw\n\nDe gemeente Houten begon in 2020.\n", "utf-8")
    (corpus_copy / "movisie-2018-integraal-werken-bestuurders.txt").unlink()
    before = enc.texts
    report = vb.ingest([corpus_copy])
    name = corpus_copy.name
    assert report.changed == [f"{name}/gemeentenu-hoera-stemming-integraal-werken.txt"]
    assert report.added == [f"{name}/nieuw.md"]
    assert report.removed == [f"{name}/movisie-2018-integraal-werken-bestuurders.txt"]
    # only the new and changed passages/sentences were embedded, not the whole corpus
    assert 0 < enc.texts - before < 30
    assert live_generation(fake_settings.index_dir) != gen_before
    assert gen_before is not None and not gen_before.exists()  # old generation cleaned up
    srcs = {s.source for s in vb.sources()}
    assert f"{name}/nieuw.md" in srcs


def test_add_and_remove(corpus_copy: Path, fake_settings: Settings, tmp_path: Path) -> None:
    vb = Vraagbaak(fake_settings)
    vb.ingest([corpus_copy / "movisie-houten-op-koers-dienend-beleid.txt"])
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\n\nDit is een extra document over maatwerk.\n", "utf-8")
    vb.ingest([extra], add=True)
    assert {s.source for s in vb.sources()} == {
        "movisie-houten-op-koers-dienend-beleid.txt",
        "extra.txt",
    }
    vb.remove(["extra.txt"])
    assert {s.source for s in vb.sources()} == {"movisie-houten-op-koers-dienend-beleid.txt"}
    with pytest.raises(InputError):
        vb.remove(["nope.txt"])


def _doc(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Titel\n\n{text}\n", "utf-8")
    return path


def test_add_keeps_another_file_of_the_same_name(fake_settings: Settings, tmp_path: Path) -> None:
    vb = Vraagbaak(fake_settings)
    one = _doc(tmp_path / "d1" / "rapport.txt", "Het eerste rapport gaat over de Teylingse Ton.")
    two = _doc(tmp_path / "d2" / "rapport.txt", "Het tweede rapport gaat over jeugdzorg.")
    vb.ingest([one])
    report = vb.ingest([two], add=True)
    assert report.added == [str(two.resolve())] and not report.changed
    assert {s.source: s.path for s in vb.sources()} == {
        "rapport.txt": str(one.resolve()),
        str(two.resolve()): str(two.resolve()),
    }
    # without --add the index holds what is named, each file under the name it has
    report = vb.ingest([two])
    assert [s.source for s in vb.sources()] == [str(two.resolve())]
    assert report.removed == ["rapport.txt"] and not report.changed
    # and a file of the same name takes the place of one that is not named
    vb.ingest([one])
    report = vb.ingest([two])
    assert report.changed == ["rapport.txt"]
    assert [s.path for s in vb.sources()] == [str(two.resolve())]


def test_a_file_added_again_on_its_own_stays_one_source(
    fake_settings: Settings, tmp_path: Path
) -> None:
    vb = Vraagbaak(fake_settings)
    folder = tmp_path / "inc"
    f = _doc(folder / "houten.txt", "Houten werkt met dienend beleid.")
    _doc(folder / "ander.txt", "Een ander document over maatwerk.")
    vb.ingest([folder])
    f.write_text("Titel\n\nHouten werkt nu met een nieuw beleid.\n", "utf-8")
    report = vb.ingest([f], add=True)
    assert report.changed == ["inc/houten.txt"] and not report.added
    assert {s.source for s in vb.sources()} == {"inc/houten.txt", "inc/ander.txt"}
    ix = Index.open(fake_settings.index_dir)
    assert ix.source_text("inc/houten.txt") == f.read_text("utf-8")
    assert any("nieuw beleid" in c.text for c in ix.chunks)


def test_a_file_named_twice_is_indexed_once(fake_settings: Settings, tmp_path: Path) -> None:
    vb = Vraagbaak(fake_settings)
    folder = tmp_path / "docs"
    a = _doc(folder / "a.txt", "Het document over de Teylingse Ton.")
    vb.ingest([a, a])
    assert [s.source for s in vb.sources()] == ["a.txt"]
    vb.ingest([folder, a])  # an indexed file keeps its name
    assert [s.source for s in vb.sources()] == ["a.txt"]
    other = Vraagbaak(fake_settings.with_(index_dir=fake_settings.index_dir.parent / "other"))
    other.ingest([folder, a])
    assert [s.source for s in other.sources()] == ["docs/a.txt"]


def test_damaged_index_is_reported(corpus_copy: Path, fake_settings: Settings) -> None:
    Vraagbaak(fake_settings).ingest([corpus_copy])
    gen = live_generation(fake_settings.index_dir)
    assert gen is not None
    with (gen / "passages.npy").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00garbage\x00")
    with pytest.raises(IndexCorruptError) as e:
        Index.open(fake_settings.index_dir)
    assert "vraagbaak" in (e.value.hint or "")


def test_encoder_mismatch(corpus_copy: Path, fake_settings: Settings) -> None:
    Vraagbaak(fake_settings).ingest([corpus_copy])
    other = fake_settings.with_(encoder="fake:32")
    with pytest.raises(EncoderMismatchError):
        Vraagbaak(other).search("Wat is de Teylingse Ton?")


def test_an_index_of_an_earlier_encoder_version(
    corpus_copy: Path, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index built by an earlier version of the same encoder (same name, another id):
    the bundled corpus' index is built again by ensure_index; the user's own is not, and
    opening it says how to rebuild it."""
    from vraagbaak.settings import bundled_corpus

    bundled = Vraagbaak(fake_settings)
    bundled.ingest([bundled_corpus()])
    own = Vraagbaak(fake_settings.with_(index_dir=fake_settings.index_dir.parent / "own"))
    own.ingest([corpus_copy])
    for vb in (bundled, own):
        assert not vb.needs_index() and vb.ensure_index() is None
    enc = bundled.encoder
    monkeypatch.setattr(enc, "id", "fake:64-v2")  # the next version of the encoder
    assert bundled.needs_index() and "earlier version" in bundled.build_notice()
    report = bundled.ensure_index()
    assert report is not None and report.documents == 5
    assert Index.open(fake_settings.index_dir).manifest["encoder"]["id"] == "fake:64-v2"
    assert not bundled.needs_index()
    assert bundled.search("Wat is de Teylingse Ton?")

    assert not own.needs_index() and own.ensure_index() is None
    with pytest.raises(EncoderMismatchError) as e:
        own.search("Wat is de Teylingse Ton?")
    assert "ingest" in (e.value.hint or "")
    assert Index.open(own.settings.index_dir).manifest["encoder"]["id"] == "fake:64"
    monkeypatch.setattr("vraagbaak.index.reader.EARLIER_E5_IDS", ("fake:64",))
    with pytest.raises(EncoderMismatchError, match="earlier version") as e:
        Index.open(own.settings.index_dir, encoder_id="fake:64-v2")
    assert str(corpus_copy) in (e.value.hint or "")
    # an earlier id whose vectors are within the new one's noise: searched as it is
    monkeypatch.setattr("vraagbaak.index.reader.COMPATIBLE_E5_IDS", {"fake:64": "fake:64-v2"})
    assert Index.open(own.settings.index_dir, encoder_id="fake:64-v2").chunks
    with pytest.raises(EncoderMismatchError):  # only for the id it is compatible with
        Index.open(own.settings.index_dir, encoder_id="fake:64-v3")


def test_failed_ingest_keeps_previous_index(
    corpus_copy: Path, fake_settings: Settings, tmp_path: Path
) -> None:
    vb = Vraagbaak(fake_settings)
    vb.ingest([corpus_copy])
    empty = tmp_path / "leeg"
    empty.mkdir()
    (empty / "x.txt").write_text("   \n", "utf-8")
    with pytest.raises(InputError):
        vb.ingest([empty])
    assert vb.search("Teylingse Ton", top_k=1)


def test_lock_blocks_a_second_writer(fake_settings: Settings) -> None:
    with write_lock(fake_settings.index_dir), pytest.raises(IndexLockedError):  # noqa: SIM117
        with write_lock(fake_settings.index_dir):
            pass


def test_format_version_checked(corpus_copy: Path, fake_settings: Settings) -> None:
    Vraagbaak(fake_settings).ingest([corpus_copy])
    gen = live_generation(fake_settings.index_dir)
    assert gen is not None
    m = json.loads((gen / "manifest.json").read_text())
    m["format_version"] = 999
    (gen / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexCorruptError, match="format version"):
        Index.open(fake_settings.index_dir)
    assert os.path.islink(fake_settings.index_dir / "current")
