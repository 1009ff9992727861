from vraagbaak.ingest.sentences import split_sentences


def texts(t: str) -> list[str]:
    return [t[s:e] for s, e in split_sentences(t)]


def test_abbreviations_do_not_split() -> None:
    t = "Dit geldt o.a. voor zorg m.b.t. jeugd, bijv. in Soest. Dhr. Jansen en mevr. De Vries zijn er."  # noqa: E501
    assert texts(t) == [
        "Dit geldt o.a. voor zorg m.b.t. jeugd, bijv. in Soest.",
        "Dhr. Jansen en mevr. De Vries zijn er.",
    ]


def test_initials_and_numbers() -> None:
    t = "Volgens J. de Haan kost het 1.200 euro. Zie paragraaf 2.1 voor meer."
    assert texts(t) == ["Volgens J. de Haan kost het 1.200 euro.", "Zie paragraaf 2.1 voor meer."]


def test_quotes_stay_with_their_sentence() -> None:
    t = "Hij zei: “Het werkt niet.” Daarna stopte hij. ‘Klopt dat?’ Ja."
    assert texts(t) == ["Hij zei: “Het werkt niet.”", "Daarna stopte hij.", "‘Klopt dat?’", "Ja."]


def test_list_items_are_sentences() -> None:
    t = "Drie thema's:\n- grenzenwerk\n- informeel\n1. geduld"
    assert texts(t) == ["Drie thema's:", "- grenzenwerk", "- informeel", "1. geduld"]


def test_wrapped_lines_continue() -> None:
    t = "Het rapport gaat over de rol van\nwethouders en raadsleden. Nieuwe zin."
    assert texts(t) == [
        "Het rapport gaat over de rol van\nwethouders en raadsleden.",
        "Nieuwe zin.",
    ]


def test_offsets_are_exact_and_cover_the_text() -> None:
    t = "  Eerste zin.  Tweede zin!\n\nDerde alinea? Ja.  "
    spans = split_sentences(t)
    covered = "".join(t[s:e] for s, e in spans)
    assert covered.replace(" ", "") == t.replace(" ", "").replace("\n", "")
    assert all(t[s:e] == t[s:e].strip() for s, e in spans)


def test_region_offsets() -> None:
    t = "Voor. Midden een. Midden twee. Na."
    start = t.index("Midden")
    end = t.index(" Na.")
    assert [t[s:e] for s, e in split_sentences(t, start, end)] == ["Midden een.", "Midden twee."]


def test_numbered_list_marker_is_not_a_sentence_end() -> None:
    t = "We zien drie thema's terug:\n\n  1. Grenzenwerk – ruimte in regels;\n  2. Het belang van informeel."  # noqa: E501
    assert texts(t) == [
        "We zien drie thema's terug:",
        "1. Grenzenwerk – ruimte in regels;",
        "2. Het belang van informeel.",
    ]
