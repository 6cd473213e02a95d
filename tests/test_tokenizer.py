"""tempme.tokenizer against open_clip's own SimpleTokenizer: equal ids on thousands of strings.

The reference is open_clip's tokenizer (OpenAI CLIP's simple_tokenizer), the one the torch text
path uses; our tokenizer shares no code with it (BPE by the ``tokenizers`` library).
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from open_clip.tokenizer import SimpleTokenizer

from tempme.tokenizer import CLIPTokenizer, TokenizerError, bytes_to_unicode, open_clip_bpe_path

CONTEXTS = (77, 32, 5, 2)  # CLIP's, TempMe's (every preset, tempme-tiny included), and hard cuts


@pytest.fixture(scope="module")
def reference() -> SimpleTokenizer:
    return SimpleTokenizer()


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> CLIPTokenizer:
    """Built from open_clip's vocabulary file, saved as tokenizer.json and read back (the runtime's path)."""
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    CLIPTokenizer.from_open_clip().save(path)
    return CLIPTokenizer.from_file(path)


def _assert_same(reference: SimpleTokenizer, ours: CLIPTokenizer, texts: list[str]) -> None:
    for text in texts:
        assert ours.encode(text) == reference.encode(text), repr(text)
    for L in CONTEXTS:
        want = reference(texts, context_length=L).numpy()
        got = ours(texts, context_length=L)
        assert got.dtype == np.int64 and got.shape == want.shape
        bad = np.flatnonzero((got != want).any(axis=1))
        assert bad.size == 0, f"L={L}: {bad.size} texts differ, e.g. {texts[bad[0]]!r}"


def _captions(msrvtt_dir, n: int = 3000) -> list[str]:
    data = json.loads((msrvtt_dir / "MSRVTT_data.json").read_text())
    sentences = [s["caption"] for s in data["sentences"]]
    with open(msrvtt_dir / "MSRVTT_JSFUSION_test.csv", newline="") as f:
        test = [row["sentence"] for row in csv.DictReader(f)]
    return random.Random(0).sample(sentences, n) + test


def test_msrvtt_captions(reference, ours, msrvtt_dir):
    texts = _captions(msrvtt_dir)
    assert len(texts) == 4000
    _assert_same(reference, ours, texts)


# code point ranges for random strings: scripts, marks, emoji, and what ftfy and the cleaner rewrite
RANGES = [
    (0x20, 0x7E),  # ASCII
    (0xA0, 0xFF),  # Latin-1 (accents, NBSP, soft hyphen)
    (0x100, 0x24F),  # Latin Extended-A/B (long s, dotted I)
    (0x300, 0x36F),  # combining diacritics
    (0x370, 0x3FF),  # Greek
    (0x400, 0x4FF),  # Cyrillic
    (0x600, 0x6FF),  # Arabic (and Arabic-Indic digits)
    (0x900, 0x97F),  # Devanagari
    (0x2000, 0x206F),  # general punctuation: spaces, ZWJ, curly quotes, line separator
    (0x2100, 0x214F),  # letterlike (Kelvin sign)
    (0x3000, 0x30FF),  # CJK punctuation, ideographic space, kana
    (0x4E00, 0x9FFF),  # CJK ideographs
    (0xAC00, 0xD7A3),  # Hangul
    (0xFB00, 0xFB06),  # Latin ligatures (ftfy unfolds them)
    (0xFF00, 0xFFEF),  # full-width forms (ftfy narrows them)
    (0x1F300, 0x1FAFF),  # emoji
    (0x0, 0x1F),  # control characters, tab, newlines
]
PIECES = [
    "&amp;",
    "&lt;b&gt;",
    "&amp;lt;",
    "&#39;",
    "&quot;",
    "cafÃ©",  # mojibake ftfy repairs
    "â€™",
    "'s",
    "'LL",
    "’re",
    "<start_of_text>",
    "<END_OF_TEXT>",
    "\ufe0f",
    "\u200d",
    "👨‍👩‍👧",
    "🇫🇷",
    "e\u0301",
    "ǅ",
    "İ",
    "ß",
    "  ",
    "\t\n",
    "123456",
    "x" * 40,
]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.2:
                parts.append(rng.choice(PIECES))
            elif r < 0.3:
                parts.append(" ")
            elif r < 0.4:  # any code point outside the surrogates
                cp = rng.randint(0x20, 0x2FFFF)
                parts.append(chr(cp if not 0xD800 <= cp <= 0xDFFF else 0x41))
            else:
                lo, hi = rng.choice(RANGES)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
        texts.append("".join(parts))
    return texts


def test_random_unicode(reference, ours):
    _assert_same(reference, ours, _random_texts(3000))


def test_random_ascii(reference, ours):
    """Plain ASCII skips ftfy (`tempme.tokenizer.clean`'s fast path); with "&", entities, "\\r" and
    control characters it does not: both against open_clip's tokenizer, which always runs ftfy."""
    rng = random.Random(2)
    alphabet = [chr(c) for c in range(0x7F)] + ["&amp;", "&lt;", "&#39;", "&quot;", "\r\n", "\x1b[31m"] * 4
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(2000)]
    texts += ["".join(rng.choice("ab cd,.'?!-\t\n") for _ in range(30)) for _ in range(200)]
    _assert_same(reference, ours, texts)


def test_edges(reference, ours):
    words = "a dog runs on the beach while a man plays the guitar".split()
    rng = random.Random(1)
    long_texts = [" ".join(rng.choice(words) for _ in range(n)) for n in (29, 30, 31, 32, 75, 76, 77, 500)]
    # lone surrogates: what Python makes of non-UTF-8 bytes in argv
    texts = [
        "",
        " ",
        "\t\n \u3000\u00a0",
        "bad \udcff",
        "\ud83d\ude00 \ud83d",
        "a",
        "A",
        "I'M",
        "x" * 5000,
        "🐶" * 100,
        *long_texts,
    ]
    _assert_same(reference, ours, texts)
    # the end token survives truncation, as in open_clip
    row = ours(long_texts[-1:], context_length=32)[0]
    assert row[0] == ours.sot_token_id and row[-1] == ours.eot_token_id and (row != 0).all()


def test_table_and_errors(ours, reference, tmp_path):
    assert bytes_to_unicode() == reference.byte_encoder  # same map, same order (the first 256 ids)
    assert ours.vocab_size == reference.vocab_size == 49408
    assert (ours.sot_token_id, ours.eot_token_id) == (reference.sot_token_id, reference.eot_token_id)
    assert open_clip_bpe_path().is_file()
    with pytest.raises(TypeError, match="texts\\[1\\]"):
        ours(["ok", 3])
    with pytest.raises(ValueError, match="context_length"):
        ours(["ok"], context_length=1)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="bad.json"):
        CLIPTokenizer.from_file(tmp_path / "bad.json")
    with pytest.raises(TokenizerError, match="BPE vocabulary"):
        CLIPTokenizer.from_bpe_file(tmp_path / "bad.json")
