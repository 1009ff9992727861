"""Settings are checked when made, with messages that name the allowed values."""

from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.errors import InputError


@pytest.mark.parametrize("field", ["encoder_threads", "encoder_batch"])
@pytest.mark.parametrize("value", [-1, 100_000, 1.5, "2", True, None])
def test_encoder_threads_and_batch_are_checked(field: str, value: object) -> None:
    with pytest.raises(InputError, match=f"{field} must be a whole number from 0 to"):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_encoder_threads_and_batch_defaults_and_values() -> None:
    s = Settings()
    assert (s.encoder_threads, s.encoder_batch) == (0, 0)  # the encoder's own defaults
    s = Settings(encoder_threads=1, encoder_batch=64)
    assert (s.encoder_threads, s.encoder_batch) == (1, 64)


def test_folders_given_as_text_become_paths(tmp_path: Path) -> None:
    s = Settings(index_dir=str(tmp_path / "idx"), cache_dir=str(tmp_path / "cache"))  # type: ignore[arg-type]
    assert s.index_dir == tmp_path / "idx" and isinstance(s.index_dir, Path)
    assert s.cache_dir == tmp_path / "cache" and isinstance(s.cache_dir, Path)
    assert not Vraagbaak(s).has_index()
    for bad in ("", "  ", 3, None):
        with pytest.raises(InputError, match="index_dir must be a folder path"):
            Settings(index_dir=bad)  # type: ignore[arg-type]
