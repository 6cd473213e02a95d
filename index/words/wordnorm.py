"""English words in one search form, for transcripts and queries alike.

A recogniser writes what it hears in its own spelling ("$40", "7.30", "St. Petersburg",
"soft-ware"); a user types another ("forty dollars", "seven thirty", "Saint Petersburg",
"software"). Both sides pass through the same functions before full-text matching; the
transcript shown to the user keeps what was recognised.

- :func:`normalize`: the canonical form. OpenAI's Whisper English text normaliser as published
  (``EnglishTextNormalizer`` from ``whisper/normalizers/english.py``, MIT, in the
  ``whisper-normalizer`` package): lower case, contractions and titles expanded ("Dr." ->
  "doctor", "St." -> "saint"), spelled numbers and currency to digits ("forty dollars" ->
  "$40"), British to American spelling (its 1,700-word ``english.json``), fillers dropped;
  after a few rules of ours in front of it (clock times "7:30" / "7.30" -> "7 30", "o'clock",
  dotted acronyms, :data:`ABBREVIATIONS` it lacks).
- :func:`search_form`: what the full-text index holds beside the transcript: the canonical
  form, each number also spelled out (num2words: "$40" -> "40 forty dollars", "730" ->
  "seven hundred thirty" and as a year or clock reading "seven thirty"), and each pair of
  neighbouring words also joined ("soft ware update" -> "... software wareupdate update"), so
  that a compound written apart on one side and together on the other still shares a term.
  Queries take the same form, so either spelling finds the other.
- :func:`spoken_words`: the words as they are said ("$40" -> "forty dollars", "Dr." ->
  "doctor", "7.30" -> "seven thirty"), for turning text into phones (:mod:`tempme.index.words.g2p`).

Limits (measured in ``tests/test_wordnorm.py``'s table): English only; numbers in words become
digits only where Whisper's normaliser recognises them; an abbreviation with two readings
("St." street / saint) takes Whisper's one (saint).
"""

from __future__ import annotations

import re
from functools import cache

# Abbreviations Whisper's normaliser leaves alone (it has mr, mrs, st, dr, prof, capt, gov, gen,
# sen, rep, pres, rev, hon, asst, assoc, lt, col, jr, sr, esq). Matched on whole words, with or
# without the dot.
ABBREVIATIONS = {
    "mt": "mount",
    "ave": "avenue",
    "blvd": "boulevard",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "sgt": "sergeant",
    "ft": "fort",
}
# Whisper's titles, for spoken_words (the canonical form gets them from the normaliser itself)
WHISPER_TITLES = {
    "mr": "mister",
    "mrs": "missus",
    "st": "saint",
    "dr": "doctor",
    "prof": "professor",
    "capt": "captain",
    "gov": "governor",
    "gen": "general",
    "sen": "senator",
    "rep": "representative",
    "pres": "president",
    "rev": "reverend",
    "hon": "honorable",
    "lt": "lieutenant",
    "col": "colonel",
    "jr": "junior",
    "sr": "senior",
}
CURRENCY = {"$": ("dollar", "dollars"), "£": ("pound", "pounds"), "€": ("euro", "euros"), "¢": ("cent", "cents")}
# words too common to join with a neighbour into a compound ("of the" -> "ofthe" helps nothing)
_NO_JOIN = frozenset(
    "a an and are as at be by for from has have he her his i in is it its me my of on or our "
    "she so that the their them they this to was we were what when where who will with you your".split()
)

_TIME = re.compile(r"(?<![\d$£€¢.,])\b([01]?\d|2[0-4])[:.]([0-5]\d)\b(?![.,]\d)")
_OCLOCK = re.compile(r"\bo['’]?\s?clock\b", re.IGNORECASE)
_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_ABBR = re.compile(r"\b(" + "|".join(ABBREVIATIONS) + r")\b\.?", re.IGNORECASE)
_TOKEN = re.compile(r"[$£€¢]?\d[\d,]*(?:\.\d+)?(?:%|st|nd|rd|th|s)?|[a-z]+(?:'[a-z]+)*", re.IGNORECASE)


@cache
def _whisper():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def _pre(text: str) -> str:
    """Our rules in front of Whisper's normaliser (it would read "7:30" as "7 30" but "7.30" as a
    decimal, "four o'clock" as "40 clock", "U.S.A." as "u s a")."""
    text = _OCLOCK.sub(" oclock", text)
    text = _TIME.sub(lambda m: f"{int(m.group(1))} {m.group(2)}", text)
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    return _ABBR.sub(lambda m: ABBREVIATIONS[m.group(1).casefold()], text)


def normalize(text: str) -> str:
    """The canonical search form of ``text``: lower case, words separated by single spaces
    (see the module docstring)."""
    return _whisper()(_pre(text)).strip()


def _words(n: int, style: str = "cardinal") -> list[str]:
    from num2words import num2words

    s = num2words(n, to=style, lang="en")
    return [w for w in re.split(r"[\s,-]+", s) if w and w != "and"]


def spell_number(token: str) -> list[list[str]]:
    """Readings of a number token, most likely first (each a list of words); [] if ``token``
    is not a number. ``"$40"`` -> ``[["forty", "dollars"]]``; ``"730"`` -> ``[["seven",
    "hundred", "thirty"], ["seven", "thirty"]]``; ``"3.5"`` -> ``[["three", "point", "five"]]``;
    ``"21st"`` -> ``[["twenty", "first"]]``; ``"40%"`` -> ``[["forty", "percent"]]``."""
    m = re.fullmatch(r"([$£€¢]?)(\d[\d,]*)(?:\.(\d+))?(%|st|nd|rd|th|s)?", token.casefold())
    if m is None:
        return []
    cur, whole, frac, suffix = m.groups()
    digits = whole.replace(",", "")
    if not digits.isdigit() or len(digits) > 15:
        return []
    n = int(digits)
    if suffix in ("st", "nd", "rd", "th"):
        return [_words(n, "ordinal")]
    readings = [_words(n)]
    if 100 <= n <= 9999 and n % 100 != 0 and not cur:
        # "730" seven thirty (a clock time written without its colon), "1999" nineteen
        # ninety-nine: the first reading for what looks like a year
        year = _words(n, "year")
        readings = [year, readings[0]] if 1100 <= n <= 2099 else [readings[0], year]
    if suffix == "s" and not cur:  # "1990s": nineteen nineties
        readings = [r[:-1] + [_plural(r[-1])] for r in readings]
    if frac:
        if cur:  # "$3.50": three dollars fifty
            unit = CURRENCY[cur][1]
            return [r + [unit] + _words(int(frac)) for r in readings]
        readings = [r + ["point"] + [_words(int(d))[0] for d in frac] for r in readings]
    if cur:
        singular, plural = CURRENCY[cur]
        readings = [r + [singular if n == 1 else plural] for r in readings]
    if suffix == "%":
        readings = [r + ["percent"] for r in readings]
    return readings


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _say_time(m: re.Match) -> str:
    """ "7:30" -> "7 30", "7:05" -> "7 oh 5", "7:00" -> "7" """
    hour, minute = int(m.group(1)), m.group(2)
    if minute == "00":
        return str(hour)
    return f"{hour} oh {int(minute)}" if minute[0] == "0" else f"{hour} {minute}"


def spoken_words(text: str) -> list[str]:
    """``text`` as it would be said, one word per item: lower case, letters only, numbers spelled
    (their first reading), abbreviations expanded, hyphens split; nothing else changed (no
    spelling standardisation: the phones should be those of the words as written)."""
    text = _TIME.sub(_say_time, _OCLOCK.sub(" oclock", text))
    text = _ACRONYM.sub(lambda m: " ".join(m.group(0).replace(".", "")), text)
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        low = tok.casefold()
        if low[0].isdigit() or low[0] in CURRENCY:
            readings = spell_number(low)
            out.extend(readings[0] if readings else re.findall(r"\d", low))
        elif low in ABBREVIATIONS:
            out.extend(ABBREVIATIONS[low].split())
        elif low in WHISPER_TITLES:
            out.append(WHISPER_TITLES[low])
        elif low == "oclock":
            out.extend(["o", "clock"])
        else:
            out.append(low)
    return out


def search_form(text: str) -> str:
    """The canonical form plus every number spelled out and every pair of neighbouring words
    joined (see the module docstring); what the full-text index holds and queries are matched
    against. Empty for text with no words."""
    canon = normalize(text)
    tokens = canon.split()
    extra: list[str] = []
    for tok in tokens:
        for reading in spell_number(tok.strip(".")):
            extra.extend(reading)
    for a, b in zip(tokens, tokens[1:]):
        if a.isalpha() and b.isalpha() and a not in _NO_JOIN and b not in _NO_JOIN and len(a) + len(b) <= 24:
            extra.append(a + b)
    return " ".join([canon, *dict.fromkeys(extra)]).strip()


__all__ = ["ABBREVIATIONS", "normalize", "search_form", "spell_number", "spoken_words"]
