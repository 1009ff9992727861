"""Settings are checked when made, with messages that name the allowed values."""

import pytest

from vraagbaak import Settings
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
