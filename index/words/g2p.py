"""Words to phones: the CMU pronouncing dictionary, and espeak-ng's letter-to-sound rules for
the words it does not have.

Phones are ARPAbet without stress (39 symbols, :data:`PHONES`), the set of CMUdict and of
pocketsphinx's acoustic model. :class:`Pronouncer` looks a word up in ``cmudict-en-us.dict``
(the copy of CMUdict that ships in pocketsphinx's model folder: 134k entries; alternatives such
as ``read(2)`` are kept in order) and sends the words it lacks, in one batch, to espeak-ng
(``espeak-ng -q --ipa -v en-us``, Debian's ``espeak-ng``: rule-based letter-to-sound plus its own
exception list), whose IPA :func:`ipa_to_arpabet` maps onto the same 39 phones.
``bench/g2p_agreement.py`` measures that fallback on dictionary words it is not told about
(docs/speech.md has the figures).

Sources: CMUdict (Carnegie Mellon University, BSD-style licence; ``cmudict-en-us.dict`` in the
``pocketsphinx`` wheel); espeak-ng's English phoneme set (``espeak-ng-data/phsource/ph_english*``,
shown as IPA by ``--ipa``).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = (
    *("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH"),
    *("T", "TH", "V", "W", "Y", "Z", "ZH"),
)
PHONES = VOWELS + CONSONANTS  # ARPAbet without stress, CMUdict's 39
Phones = tuple[str, ...]

_ALT = re.compile(r"\(\d+\)$")  # "read(2)": the second pronunciation of "read"

# espeak-ng's en-us IPA -> ARPAbet, longest symbols first (greedy). Rhotic vowels: "ɚ", "ɜː" are
# ER, and the "ɹ" that espeak writes after them before a vowel ("ʃˈoʊldɚɹ") is ER's own, dropped.
_IPA = {
    "aɪə": ("AY", "ER"),
    "aʊə": ("AW", "ER"),
    "ɑːɹ": ("AA", "R"),
    "ɔːɹ": ("AO", "R"),
    "oːɹ": ("AO", "R"),
    "ɜːɹ": ("ER",),
    "ɚɹ": ("ER",),
    "ʔn̩": ("T", "AH", "N"),
    "aɪ": ("AY",),
    "aʊ": ("AW",),
    "eɪ": ("EY",),
    "oʊ": ("OW",),
    "ɔɪ": ("OY",),
    "tʃ": ("CH",),
    "dʒ": ("JH",),
    "ɑː": ("AA",),
    "ɔː": ("AO",),
    "oː": ("AO",),
    "uː": ("UW",),
    "iː": ("IY",),
    "ɜː": ("ER",),
    "iə": ("IY", "AH"),
    "n̩": ("AH", "N"),
    "l̩": ("AH", "L"),
    "ɑ": ("AA",),
    "ɒ": ("AA",),
    "æ": ("AE",),
    "ɐ": ("AH",),
    "ʌ": ("AH",),
    "ə": ("AH",),
    "ɔ": ("AO",),
    "ɛ": ("EH",),
    "e": ("EH",),
    "ɚ": ("ER",),
    "ɪ": ("IH",),
    "ᵻ": ("IH",),
    "i": ("IY",),
    "ʊ": ("UH",),
    "u": ("UW",),
    "o": ("OW",),
    "a": ("AA",),
    "b": ("B",),
    "d": ("D",),
    "ð": ("DH",),
    "f": ("F",),
    "ɡ": ("G",),
    "g": ("G",),
    "h": ("HH",),
    "j": ("Y",),
    "k": ("K",),
    "x": ("K",),
    "l": ("L",),
    "m": ("M",),
    "n": ("N",),
    "ŋ": ("NG",),
    "p": ("P",),
    "ɹ": ("R",),
    "r": ("R",),
    "ɾ": ("T",),  # the flap of "water", "butter": CMUdict writes T (or D)
    "ʔ": ("T",),
    "s": ("S",),
    "ʃ": ("SH",),
    "t": ("T",),
    "θ": ("TH",),
    "v": ("V",),
    "w": ("W",),
    "z": ("Z",),
    "ʒ": ("ZH",),
}
_IPA_KEYS = sorted(_IPA, key=len, reverse=True)
_IGNORED = set("ˈˌ.‖|-_ ̃ˑ'") | {"\u0329", "\u0303"}  # stress, length-ish marks, syllabic mark alone


def ipa_to_arpabet(ipa: str) -> Phones:
    """espeak-ng's IPA for one word -> ARPAbet phones (stress and symbols it has no phone for
    are dropped; an unknown symbol is logged once at DEBUG and skipped)."""
    s = "".join(ch for ch in ipa.strip() if ch not in "ˈˌ")
    out: list[str] = []
    i = 0
    while i < len(s):
        for key in _IPA_KEYS:
            if s.startswith(key, i):
                out.extend(_IPA[key])
                i += len(key)
                break
        else:
            if s[i] not in _IGNORED and s[i] != "ː":
                _unknown(s[i])
            i += 1
    return tuple(out)


@cache
def _unknown(symbol: str) -> None:
    log.debug("g2p: espeak-ng symbol %r has no ARPAbet phone; skipped", symbol)


def cmudict_path() -> Path:
    """``cmudict-en-us.dict`` in pocketsphinx's model folder.

    Raises:
        FileNotFoundError: pocketsphinx (or its dictionary) is not installed.
    """
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    if not path.is_file():
        raise FileNotFoundError(f"CMU dictionary not found at {path}")
    return path


def load_cmudict(path: Path | None = None) -> dict[str, tuple[Phones, ...]]:
    """word -> its pronunciations in the file's order (``word``, ``word(2)``, ...)."""
    lexicon: dict[str, list[Phones]] = {}
    with open(path or cmudict_path(), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            word = _ALT.sub("", parts[0]).casefold()
            lexicon.setdefault(word, []).append(tuple(parts[1:]))
    return {w: tuple(p) for w, p in lexicon.items()}


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_phones(words: list[str], voice: str = "en-us", timeout_s: float = 60.0) -> list[Phones]:
    """ARPAbet phones of ``words`` (letters and apostrophes only) from espeak-ng, one call.

    Each word is sent as its own sentence (``word.`` on a line) so that espeak-ng gives one line
    of IPA per word; if it does not (it split or joined some), the words go one call each.

    Raises:
        FileNotFoundError: espeak-ng is not installed.
    """
    if not words:
        return []
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")

    def run(text: str) -> list[str]:
        out = subprocess.run(
            [exe, "-q", "--ipa", "-v", voice], input=text, capture_output=True, text=True, timeout=timeout_s, check=True
        )
        return [ln for ln in out.stdout.splitlines() if ln.strip()]

    lines = run("".join(f"{w}.\n" for w in words))
    if len(lines) != len(words):
        lines = [" ".join(run(f"{w}.\n")) for w in words]
    return [ipa_to_arpabet(ln.replace(" ", "")) for ln in lines]


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_PUNCT = ' \t"“”()[]{},;:!?'


class Pronouncer:
    """Phones of words: CMUdict first, espeak-ng for the rest (cached per word).

    Args:
        lexicon: word -> pronunciations (default: :func:`load_cmudict`).
        fallback: ``espeak`` (letter-to-sound through espeak-ng) or None (words not in the
            dictionary get no phones; said once in the log).
    """

    def __init__(self, lexicon: dict[str, tuple[Phones, ...]] | None = None, fallback: str | None = "espeak"):
        if fallback not in ("espeak", None):
            raise ValueError(f"fallback must be 'espeak' or None, got {fallback!r}")
        self.lexicon = load_cmudict() if lexicon is None else lexicon
        if fallback == "espeak" and not espeak_available():
            log.warning("g2p: espeak-ng is not installed; words outside the CMU dictionary get no phones")
            fallback = None
        self.fallback = fallback
        self._guessed: dict[str, Phones] = {}

    def known(self, word: str) -> bool:
        return word.casefold() in self.lexicon

    def pronounce(self, words: Iterable[str]) -> list[Phones]:
        """The first pronunciation of each word (lower-cased; letters and apostrophes only, other
        characters dropped); words neither the dictionary nor espeak-ng can say get ``()``."""
        keys = [self._lookup_key(w) for w in words]
        missing = sorted({k for k in keys if k and k not in self.lexicon and k not in self._guessed})
        if missing:
            if self.fallback == "espeak":
                for k, ph in zip(missing, espeak_phones(missing)):
                    self._guessed[k] = ph
            else:
                self._guessed.update((k, ()) for k in missing)
        return [self.lexicon[k][0] if k in self.lexicon else self._guessed.get(k, ()) for k in keys]

    def _lookup_key(self, word: str) -> str:
        """The dictionary's spelling when it has the word as written ("presque-isle", "a.m."),
        else letters and apostrophes only."""
        plain = word.casefold().replace("’", "'").strip(_PUNCT)
        return plain if plain in self.lexicon else _key(word)

    def variants(self, word: str) -> tuple[Phones, ...]:
        """Every dictionary pronunciation of ``word``, or the fallback's one."""
        k = self._lookup_key(word)
        if k in self.lexicon:
            return self.lexicon[k]
        ph = self.pronounce([k])[0]
        return (ph,) if ph else ()


def _key(word: str) -> str:
    return "".join(_WORD.findall(word.casefold().replace("’", "'"))) if word else ""


__all__ = [
    "CONSONANTS",
    "PHONES",
    "VOWELS",
    "Phones",
    "Pronouncer",
    "cmudict_path",
    "espeak_available",
    "espeak_phones",
    "ipa_to_arpabet",
    "load_cmudict",
]
