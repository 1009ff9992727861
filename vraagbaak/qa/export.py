"""An answer with its passages as a Markdown document (the web app's export)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .citation import citation_text, reference
from .confidence import judge

if TYPE_CHECKING:
    from ..index.reader import Index
    from ..types import Result

NO_ANSWER = "De bronnen geven hier geen antwoord op."


def _quote_block(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def result_markdown(result: Result, index: Index | None, *, uncertain_below: float) -> str:
    """The question, the answer (or the abstention) with how sure it is and its citation,
    and every passage with its citation, as Markdown."""
    verdict = judge(result.confidence, abstained=result.abstained, uncertain_below=uncertain_below)
    out = [f"# {result.question}", ""]
    ans = result.answer
    if ans is None:
        out += [f"**{NO_ANSWER}**", "", verdict.explanation, ""]
    else:
        out += [
            f"**Antwoord** ({verdict.label}): {verdict.explanation}",
            "",
            _quote_block(ans.text),
            "",
            citation_text(ans, index, quote=False),
            "",
        ]
    out += ["## Passages" + (" (zwak)" if result.abstained else ""), ""]
    for h in result.hits:
        c = h.chunk
        out += [
            f"### [{h.rank}] {reference(c.title, c.section, c.line, c.page, c.source)}",
            "",
            _quote_block(c.text),
            "",
            citation_text(c, index, quote=False),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"
