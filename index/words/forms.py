"""What is stored with each utterance for search: its search form and its phones.

:func:`speech_forms` is the one place both are computed from the words as recognised, when a
transcript is indexed (``tempme index --speech`` / ``tempme enrich --speech``) and when migration
0005 backfills a library indexed before them: the search form
(:func:`tempme.index.words.wordnorm.search_form` of the utterance's text) is indexed for full-text
search next to the text, and the phones (:func:`tempme.index.words.phonetic.utterance_phones`,
one ``|``-separated group per recognised word, :func:`tempme.index.words.phonetic.encode_phones`)
are what the phonetic index searches, so no audio is decoded at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from tempme.index.words.g2p import Pronouncer
from tempme.index.words.phonetic import encode_phones, utterance_phones
from tempme.index.words.wordnorm import search_form


@dataclass(frozen=True)
class SpeechForms:
    """An utterance's search form (text) and phones (:func:`encode_phones`'s text; ``""`` when
    no word could be said)."""

    search_text: str
    phones: str


@cache
def default_pronouncer() -> Pronouncer:
    """One :class:`Pronouncer` per process (CMUdict loads once, about 1 s; espeak-ng's guesses
    are cached per word)."""
    return Pronouncer()


def speech_forms(words: Sequence[str], pronouncer: Pronouncer | None = None) -> SpeechForms:
    """The search form and phones of an utterance, from its words as recognised, in order.

    Example: ``["It", "costs", "$40."]`` -> search form ``"it costs $40 40 forty dollars ..."``,
    phones ``"IH T|K AA S T S|F AO R T IY D AA L ER Z"``.
    """
    pronouncer = pronouncer or default_pronouncer()
    return SpeechForms(search_form(" ".join(words)), encode_phones(utterance_phones(list(words), pronouncer)))


__all__ = ["SpeechForms", "default_pronouncer", "speech_forms"]
