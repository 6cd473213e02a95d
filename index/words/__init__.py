"""The words room: the search form of English words (:mod:`.wordnorm`), words to phones
(:mod:`.g2p`: CMUdict, espeak-ng for the rest) and phonetic matching over word windows
(:mod:`.phonetic`), and what is stored per utterance (:mod:`.forms`). Used when transcripts are indexed (enrich) and when queries are matched
(query), so it sits below both; it imports neither the catalog nor any other room.

Names resolve on first use (the normaliser and the dictionary load when first needed)."""

from tempme.index.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("ABBREVIATIONS", "normalize", "search_form", "spell_number", "spoken_words"), "wordnorm"),
    **dict.fromkeys(
        ("PHONES", "Phones", "Pronouncer", "cmudict_path", "espeak_phones", "ipa_to_arpabet", "load_cmudict"), "g2p"
    ),
    **dict.fromkeys("CostModel PhoneIndex PhoneticMatch WordPhones phone_distance query_variants".split(), "phonetic"),
    **dict.fromkeys("decode_phones encode_phones utterance_phones".split(), "phonetic"),
    **dict.fromkeys(("SpeechForms", "default_pronouncer", "speech_forms"), "forms"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
