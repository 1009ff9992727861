"""One exception hierarchy for the whole project.

The CLI and the UI turn a :class:`VraagbaakError` into one readable message (and exit
status 1); anything else is a bug.
"""

from __future__ import annotations


class VraagbaakError(Exception):
    """Base class of every error vraagbaak raises on purpose.

    Attributes:
        hint: an optional next step for the user (e.g. the command that fixes it).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def user_message(self) -> str:
        """The message with its hint, as shown to a person."""
        text = str(self)
        return f"{text}\n{self.hint}" if self.hint else text


class InputError(VraagbaakError):
    """Bad input from the user: an empty question, a missing path, an unreadable file."""


class UnsupportedFormatError(InputError):
    """A file whose format vraagbaak cannot read."""


class IndexMissingError(VraagbaakError):
    """No index exists where one was expected."""


class IndexCorruptError(VraagbaakError):
    """The index on disk is damaged, half-written or from an incompatible version."""


class EncoderMismatchError(VraagbaakError):
    """The index was built with a different encoder than the one requested."""


class EncoderError(VraagbaakError):
    """An encoder could not be loaded or failed to embed."""


class IndexLockedError(VraagbaakError):
    """Another process is writing the index."""


class IndexWriteError(VraagbaakError):
    """The index folder cannot be written (read-only, full, no permission)."""
