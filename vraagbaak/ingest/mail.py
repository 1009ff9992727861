"""E-mail (``.eml``, as Woo releases hold them), read with the standard library.

The stored text starts with the message's header lines (``Van:``, ``Aan:``, ``Cc:``,
``Datum:``, ``Onderwerp:``, ``Bijlagen:``), so who wrote what, when, can be asked and
cited; then the body (the plain-text part, or else the HTML part as text). The subject
is the title, the sender the author, the date the document's date. Each attachment in a
format vraagbaak reads becomes a source of its own, named ``mail.eml#bijlage.pdf``
(:attr:`~vraagbaak.types.Document.attachments`); a forwarded message attached to it is
read the same way.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Document
from .extract import TextBuilder, document

_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december")
_MAX_DEPTH = 3
"""Messages attached to messages are read this deep."""
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\#]+")


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the parser cannot make sense of
        value = msg.get_all(name, [""])[0] if msg.get_all(name) else ""
    return " ".join(str(value or "").split())


def _dutch_date(raw: str) -> tuple[str | None, str | None]:
    """The date as written in Dutch (``12 maart 2024``) and as ``YYYY-MM-DD``."""
    try:
        dt = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None, None
    if dt is None:
        return None, None
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year}", dt.strftime("%Y-%m-%d")


def _part_text(part: Any) -> str:
    """A text part's content as a string (a wrong or unknown charset is read as cp1252)."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, AssertionError, KeyError, ValueError):
        pass
    payload = part.get_payload(decode=True) or b""
    from .readers import decode_text

    try:
        return decode_text(payload, "")[0]
    except InputError:
        return payload.decode("cp1252", "replace")


def _attachment_name(part: Any, i: int, used: set[str]) -> str:
    raw = part.get_filename() or ""
    name = _UNSAFE.sub("_", Path(raw.replace("\\", "/")).name).strip(" ._") or ""
    if not name:
        ext = ".eml" if part.get_content_type() == "message/rfc822" else ""
        name = f"bijlage-{i}{ext}"
    base, n = name, 2
    while name in used:
        stem, dot, ext = base.rpartition(".")
        name = f"{stem}-{n}.{ext}" if dot else f"{base}-{n}"
        n += 1
    used.add(name)
    return name


def read_eml(path: Path, data: bytes, source: str) -> Document:
    """Read an e-mail message: headers, body and (as sources of their own) attachments.

    Raises:
        InputError: not an e-mail message, or one with no text at all.
    """
    return _read(data, source, depth=0)


def _read(data: bytes, source: str, *, depth: int) -> Document:
    from .readers import READERS

    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
    except Exception as e:
        raise InputError(f"{source}: cannot read this e-mail ({type(e).__name__}: {e}).") from None
    if not isinstance(msg, EmailMessage) or not any(
        msg.get(h) for h in ("From", "To", "Subject", "Date", "Message-ID")
    ):
        raise InputError(f"{source}: this does not look like an e-mail message (no headers).")

    notices: list[str] = []
    attachments: list[Document] = []
    names: list[str] = []
    used: set[str] = set()
    for i, part in enumerate(msg.iter_attachments(), start=1):
        name = _attachment_name(part, i, used)
        names.append(name)
        sub = f"{source}#{name}"
        is_message = part.get_content_type() == "message/rfc822"
        suffix = ".eml" if is_message else Path(name).suffix.lower()
        reader = READERS.get(suffix)
        if reader is None:
            notices.append(f"{sub}: attachment not read (unsupported file type '{suffix}').")
            continue
        try:
            if is_message:
                inner = part.get_content()
                blob = inner.as_bytes() if hasattr(inner, "as_bytes") else bytes(inner)
                if depth + 1 > _MAX_DEPTH:
                    notices.append(f"{sub}: attached message not read (nested too deep).")
                    continue
                att = _read(blob, sub, depth=depth + 1)
            else:
                payload = part.get_payload(decode=True)
                att = reader(Path(name), payload if isinstance(payload, bytes) else b"", sub)
        except InputError as e:
            notices.append(f"{sub}: attachment not read ({e}).")
            continue
        except Exception as e:  # a reader failing on odd bytes must not lose the mail
            notices.append(f"{sub}: attachment not read ({type(e).__name__}: {e}).")
            continue
        attachments.append(dataclasses.replace(att, attachments=()))
        attachments.extend(att.attachments)
        notices.extend(att.notices)

    sender = _header(msg, "From")
    subject = _header(msg, "Subject")
    dutch, iso = _dutch_date(_header(msg, "Date"))
    b = TextBuilder()
    head = [
        f"{label}: {value}"
        for label, value in (
            ("Van", sender), ("Aan", _header(msg, "To")), ("Cc", _header(msg, "Cc")),
            ("Datum", dutch or _header(msg, "Date")), ("Onderwerp", subject),
            ("Bijlagen", ", ".join(names)),
        )
        if value
    ]
    b.block("\n".join(head))
    body_part = msg.get_body(preferencelist=("plain", "html"))
    if body_part is not None:
        body = _part_text(body_part).replace("\r\n", "\n").replace("\r", "\n")
        if body_part.get_content_type() == "text/html":
            from .htmltext import page_text

            body = page_text(body)[0]
        b.block(body.strip("\n"))
    org = _header(msg, "Organization") or _header(msg, "Organisation") or None
    doc = document(
        source=source, data=data, text=b.text, kind="eml", title=subject or None,
        notices=notices, author=sender or None, organisation=org, date=iso,
        attachments=attachments,
    )
    return doc
