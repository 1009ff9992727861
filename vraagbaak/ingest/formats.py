"""Readers for extracted formats (PDF, DOCX, HTML). Filled in by the formats work."""

from __future__ import annotations

READERS: dict = {}
