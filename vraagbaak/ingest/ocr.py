"""OCR for PDF pages without a text layer: the page is rendered (pypdfium2) and read by
Tesseract with its Dutch model (pytesseract).

Optional: ``pip install 'vraagbaak[ocr]'`` and the Tesseract program with the Dutch model
(Debian/Ubuntu: ``apt-get install tesseract-ocr tesseract-ocr-nld``). Without them a
scanned PDF gets a message that says what to install.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator

logger = logging.getLogger(__name__)

LANGUAGE = "nld"
"""Tesseract's model for Dutch."""
DPI = 300
"""Rendering resolution: Tesseract reads best at about 300 dpi."""
INSTALL_HINT = (
    "To read scanned PDFs, install OCR: pip install 'vraagbaak[ocr]' and Tesseract with "
    "its Dutch model (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-nld)."
)


@functools.cache
def unavailable() -> str | None:
    """Why OCR cannot run here (one sentence), or None when it can."""
    try:
        import pypdfium2  # noqa: F401
        import pytesseract
    except ImportError as e:
        return f"the Python package {e.name or 'pytesseract'} is not installed"
    try:
        languages = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError):
        return "the Tesseract program is not installed"
    except Exception as e:  # a broken installation
        return f"Tesseract does not run ({type(e).__name__}: {e})"
    if LANGUAGE not in languages:
        return "Tesseract's Dutch model (tesseract-ocr-nld) is not installed"
    return None


def ocr_pages(data: bytes, numbers: Iterable[int], *, dpi: int = DPI) -> Iterator[tuple[int, str]]:
    """Read the given pages (1-based) of a PDF by OCR.

    Yields:
        ``(page number, text)``, paragraphs separated by blank lines as Tesseract
        finds them.

    Raises:
        RuntimeError: OCR is not available (see :func:`unavailable`).
    """
    why = unavailable()
    if why is not None:
        raise RuntimeError(why)
    import pypdfium2 as pdfium
    import pytesseract

    pdf = pdfium.PdfDocument(data)
    try:
        for number in numbers:
            page = pdf[number - 1]
            try:
                image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            finally:
                page.close()
            text = pytesseract.image_to_string(image, lang=LANGUAGE, config="--psm 3")
            yield number, text.replace("\f", "")
    finally:
        pdf.close()
