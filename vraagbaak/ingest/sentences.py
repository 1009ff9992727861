"""Dutch sentence splitting that returns exact character spans.

The splitter never changes the text: it returns ``(start, end)`` offsets, trimmed of
surrounding whitespace, so ``text[start:end]`` is always a sentence as written.

It survives Dutch abbreviations ("o.a.", "m.b.t.", "bijv.", "dhr."), initials
("J. de Haan"), numbers ("1.200", "2.1"), numbered and bulleted lists (each item is a
sentence of its own) and closing quotes after the full stop.
"""

from __future__ import annotations

import re

# Lower-cased, without the final dot. Multi-part abbreviations are matched on the whole
# token ("m.b.t"), so the inner dots never split either.
ABBREVIATIONS: frozenset[str] = frozenset(
    """
    a.d a.s aanv aant afb afd alg art bijv bijl blz bv c.q ca cf d.d d.i d.m.v d.w.z dhr
    dr drs e.a e.d e.e.a e.v enz etc evt excl fig fa gem geb herz i.c i.e i.h.a i.o i.p.v
    i.s.m i.v.m i.t.t ib id incl ing ir jl jr lic m.a.w m.b.t m.b.v m.i m.i.v m.n m.u.v
    max mevr min mr mw n.a.v n.v.t nl no nr o.a o.b.v o.l.v o.m o.i okt p pag plm prof
    red resp s.v.p sr st t.a.v t.b.v t.g.v t.o.v t.w tel tv vgl vnl vs vz z.g z.g.a.n
    z.s.m zgn zg ziek jan feb mrt apr jun jul aug sep sept nov dec e.g i.e etc
    """.split()  # noqa: SIM905
)

_QUOTES_CLOSE = "\"'’”»)]"
_QUOTES_OPEN = "\"'‘“„«(["
_BULLET = re.compile(r"[ \t]*(?:[-–•*·▪◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])[ \t]+")
_TERMINATOR = re.compile(r"[.!?…]+[" + re.escape(_QUOTES_CLOSE) + r"]*")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at ``dot`` ends an abbreviation, an initial or a number part."""
    m = _WORD_BEFORE.search(text, max(0, dot - 20), dot)
    if not m:
        return False
    token = m.group(1).lower().strip(".")
    if not token:
        return False
    if token in ABBREVIATIONS:
        return True
    # Single letters are initials ("J. de Haan") or list labels ("b. Professioneel").
    if len(token) == 1 and token.isalpha():
        return True
    # Dotted abbreviation not in the list ("a.s.r", "v.w.b").
    return bool(re.fullmatch(r"(?:\w{1,3}\.)+\w{1,3}", token)) and not token.isdigit()


def _is_list_number(text: str, dot: int) -> bool:
    """True for the dot of a list number at the start of a line ("  1. Grenzenwerk")."""
    j = dot
    while j > 0 and text[j - 1].isdigit():
        j -= 1
    if j == dot or dot - j > 3:
        return False
    line_start = text.rfind("\n", 0, j) + 1
    return not text[line_start:j].strip()


def _next_nonspace(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos] in " \t":
        pos += 1
    return pos


def _line_breaks_sentence(text: str, nl: int, start: int, end: int) -> bool:
    """Decide whether a single newline at ``nl`` ends a sentence.

    A wrapped line (lower case or comma before, lower case after) continues; a list
    item, a line after terminal punctuation or a colon, or a new capitalised line after
    a short line starts a new sentence.
    """
    prev = text[start:nl].rstrip()
    nxt_pos = _next_nonspace(text, nl + 1, end)
    nxt = text[nxt_pos:end]
    if not prev or not nxt:
        return True
    if _BULLET.match(text, nl + 1, end):
        return True
    last = prev[-1]
    if last in ".!?…:;" or last in _QUOTES_CLOSE:
        return True
    if nxt[0].islower() or last in ",-–(":
        return False
    line_start = prev.rfind("\n") + 1
    # A short line followed by a capitalised one: a title, a label, a table row.
    return len(prev) - line_start < 60 or "\t" in prev


def is_list_item(sentence: str) -> bool:
    """Whether ``sentence`` opens a list item ("- …", "• …", "1. …", "a) …")."""
    return _BULLET.match(sentence) is not None


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into sentences.

    Args:
        text: the whole document text (offsets are into it).
        start: where the region to split begins.
        end: where it ends (default: end of text).

    Returns:
        ``(start, end)`` spans in order, each trimmed of whitespace, covering every
        non-space character of the region exactly once.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    sent_start = start
    i = start

    def close(at: int) -> None:
        nonlocal sent_start
        s, e = sent_start, at
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        sent_start = at

    while i < end:
        ch = text[i]
        if ch == "\n":
            j = i + 1
            # A blank line always ends a sentence.
            blank = False
            while j < end and text[j] in " \t\r\n":
                if text[j] == "\n":
                    blank = True
                j += 1
            if blank or _line_breaks_sentence(text, i, sent_start, end):
                close(i)
            i = j if blank else i + 1
            continue
        m = _TERMINATOR.match(text, i, end)
        if m:
            stop = m.end()
            nxt = _next_nonspace(text, stop, end)
            at_boundary = stop >= end or text[stop] in " \t\r\n"
            if at_boundary and nxt < end:
                following = text[nxt]
                starts_new = (
                    following.isupper()
                    or following.isdigit()
                    or following in _QUOTES_OPEN
                    or following in "-–•*"
                    or text[nxt] == "\n"
                )
                is_abbrev = (
                    ch == "."
                    and m.group(0) == "."
                    and (_is_abbreviation(text, i) or _is_list_number(text, i))
                )
                if starts_new and not is_abbrev:
                    close(stop)
            elif at_boundary:
                close(stop)
            i = stop
            continue
        i += 1
    close(end)
    return spans
