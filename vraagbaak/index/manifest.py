"""The manifest of an index generation: written with its own checksum, read back checked.

The manifest lists the sha256 of every other file of a generation, so it is the root of
the index's integrity. It carries its own checksum too (``manifest_sha256``: the sha256 of
the manifest's canonical JSON without that field), and every field it is read for is
checked for type and range, so a flipped byte or a hand edit gives the damaged-index
message instead of a wrong answer or a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..settings import SENTENCE_VECTORS

SELF_KEY = "manifest_sha256"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SOURCE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "source": str,
    "path": str,
    "sha256": str,
    "text_sha256": str,
    "title": str,
    "kind": str,
    "date": (str, type(None)),
    "chunks": int,
    "chars": int,
    "indexed_at": str,
    "notices": list,
    "pages": list,
    "headings": list,
    "author": (str, type(None)),
    "organisation": (str, type(None)),
    "ocr_pages": list,
}


class ManifestError(ValueError):
    """What is wrong with a manifest (the caller turns it into the damaged-index error)."""


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes the manifest's own checksum is computed over: its JSON without the
    checksum field, keys sorted, no spaces (the same for any formatting of the file)."""
    body = {k: v for k, v in manifest.items() if k != SELF_KEY}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def dumps(manifest: dict[str, Any]) -> str:
    """The manifest as written to disk, with its own checksum added."""
    plain = json.loads(json.dumps(manifest, ensure_ascii=False))  # tuples -> lists
    plain[SELF_KEY] = hashlib.sha256(canonical(plain)).hexdigest()
    return json.dumps(plain, ensure_ascii=False, indent=1)


def loads(data: bytes) -> dict[str, Any]:
    """Parse and check a manifest.

    Raises:
        ManifestError: it is not valid JSON, its own checksum does not match, or a field
            has the wrong type.
    """
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"its manifest cannot be read ({e})") from None
    if not isinstance(manifest, dict):
        raise ManifestError("its manifest is not a JSON object")
    stored = manifest.get(SELF_KEY)
    if not isinstance(stored, str):
        raise ManifestError(
            "its manifest carries no checksum of its own (it was made by another version "
            "of vraagbaak, or damaged)"
        )
    if hashlib.sha256(canonical(manifest)).hexdigest() != stored:
        raise ManifestError("its manifest was changed after it was written")
    problem = check(manifest)
    if problem:
        raise ManifestError(f"its manifest is invalid ({problem})")
    return manifest


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _bad_name(name: str) -> bool:
    """Control characters (a newline would forge lines of output) or undecodable bytes."""
    return any(not (c.isprintable() or c == " ") for c in name)


def check(m: dict[str, Any]) -> str | None:
    """The first thing wrong with the manifest's fields, or None when it is well-formed.

    Only the format version is checked before this (an index of another version gets its
    own message); everything vraagbaak reads from the manifest is checked here.
    """
    if not _is_int(m.get("format_version")):
        return "format_version is not a number"
    enc = m.get("encoder")
    if not isinstance(enc, dict):
        return "encoder is not an object"
    if not isinstance(enc.get("id"), str) or not isinstance(enc.get("spec"), str):
        return "encoder id or spec is not text"
    if not _is_int(enc.get("dim")) or enc["dim"] <= 0:
        return "encoder dim is not a positive number"
    if enc.get("sentences", "separate") not in SENTENCE_VECTORS:
        return f"encoder sentences is not one of {', '.join(SENTENCE_VECTORS)}"
    for key in ("chunking", "analysis", "versions", "counts", "checksums"):
        if not isinstance(m.get(key), dict):
            return f"{key} is not an object"
    if not all(_is_int(v) for v in m["chunking"].values()):
        return "chunking holds a value that is not a number"
    if not all(_is_int(v) for v in m["counts"].values()) or not _is_int(m["counts"].get("chunks")):
        return "counts are not numbers"
    if m.get("dense") is not None and not isinstance(m["dense"], dict):
        return "dense is not an object"
    if not isinstance(m.get("vectors_dtype", "float32"), str):
        return "vectors_dtype is not text"
    for name, digest in m["checksums"].items():
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            return f"the checksum of {name} is not a sha256"
        if name.startswith("/") or ".." in name.split("/"):
            return f"{name} lies outside the index"
    files = m.get("files")
    if not isinstance(files, dict) or set(files) != set(m["checksums"]):
        return "files does not list the files of the checksums"
    for name, rec in files.items():
        if not (
            isinstance(rec, dict) and _is_int(rec.get("size")) and rec["size"] >= 0
            and isinstance(rec.get("edge"), str) and _HEX64.fullmatch(rec["edge"])
        ):
            return f"the size or edge checksum of {name} is malformed"
    sources = m.get("sources")
    if not isinstance(sources, list) or not sources:
        return "sources is not a list of sources"
    seen: set[str] = set()
    total = 0
    for i, s in enumerate(sources):
        if not isinstance(s, dict):
            return f"sources[{i}] is not an object"
        extra = set(s) - set(_SOURCE_FIELDS)
        if extra:
            return f"sources[{i}] has unknown fields {sorted(extra)}"
        for key, kind in _SOURCE_FIELDS.items():
            if key not in s or not isinstance(s[key], kind) or isinstance(s[key], bool):
                return f"sources[{i}].{key} is missing or of the wrong type"
        if s["source"] in seen:
            return f"source {s['source']!r} is listed twice"
        seen.add(s["source"])
        if _bad_name(s["source"]) or _bad_name(s["path"]):
            return f"sources[{i}] has a name with control characters"
        for key in ("sha256", "text_sha256"):
            if not _HEX64.fullmatch(s[key]):
                return f"sources[{i}].{key} is not a sha256"
        if f"texts/{s['sha256']}.txt" not in m["checksums"]:
            return f"the stored text of {s['source']!r} is not listed"
        if s["chunks"] < 0 or s["chars"] < 0:
            return f"sources[{i}] has a negative count"
        if not all(isinstance(x, str) for x in s["notices"]):
            return f"sources[{i}].notices are not text"
        if not all(_is_int(x) for x in s["pages"]):
            return f"sources[{i}].pages are not numbers"
        for h in s["headings"]:
            if not (
                isinstance(h, list) and len(h) == 4 and all(_is_int(x) for x in h[:3])
                and isinstance(h[3], str)
            ):
                return f"sources[{i}].headings are malformed"
        total += s["chunks"]
    if total != m["counts"]["chunks"]:
        return "the sources' passages do not add up to the index's passages"
    return None
