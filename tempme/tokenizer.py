"""CLIP's text tokenizer without torch: open_clip's ``SimpleTokenizer``, token for token.

open_clip (``open_clip/tokenizer.py``, itself OpenAI CLIP's ``simple_tokenizer.py``) turns a
string into ids in four steps, reproduced here in the same order:

1. clean (open_clip's ``clean="lower"``): ``ftfy.fix_text``, ``html.unescape`` twice, strip,
   collapse whitespace (``" ".join(text.split())``), lower-case;
2. split into words with CLIP's regular expression (the ``regex`` module, case-insensitive):
   ``<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+``;
   the two special tokens, written literally in a text, become their own ids, as in open_clip;
3. map each word's UTF-8 bytes to GPT-2's printable byte alphabet and run byte-pair encoding
   with the 48,894 merges of ``bpe_simple_vocab_16e6.txt.gz``, ``</w>`` marking a word's end
   (the BPE is the ``tokenizers`` library's ``BPE`` model; vocabulary ids as open_clip builds
   them: 256 bytes, 256 bytes + ``</w>``, one id per merge, then the two special tokens);
4. ``[sot] + ids + [eot]``, truncated to the context length with the last id replaced by
   ``eot`` (so the end token always survives), zero-padded.

``tests/test_tokenizer.py`` checks equality of ids against open_clip's own tokenizer.
The vocabulary comes from the open_clip package folder (found without importing open_clip, which
would import torch) or from a ``tokenizer.json`` saved beside an exported text tower.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import regex
from tokenizers import Tokenizer
from tokenizers.models import BPE

log = logging.getLogger(__name__)

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"  # in the open_clip package folder
NUM_MERGES = 49152 - 256 - 2  # open_clip reads lines 1 .. 48894 of the file
SOT = "<start_of_text>"
EOT = "<end_of_text>"
END_OF_WORD = "</w>"
# open_clip's SimpleTokenizer.pat, with its special tokens first
WORD_PATTERN = regex.compile(
    SOT + "|" + EOT + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
DEFAULT_CONTEXT_LENGTH = 77


class TokenizerError(RuntimeError):
    """The vocabulary cannot be found or read."""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters (CLIP's too).

    Printable Latin-1 bytes map to themselves; the other 68 to U+0100 upwards, in byte order.
    The dict's order (the printable bytes first, then the others) is the order of CLIP's first
    256 vocabulary ids.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return table


# Printable ASCII, tab and newline: text that ftfy.fix_text returns unchanged (its fixes need
# non-ASCII characters, "&" (HTML entities), "\r" (line breaks) or control characters). Such text
# skips ftfy, and ftfy is imported only for the rest (0.13 CPU-s of a cold query, issue 25);
# tests/test_tokenizer.py checks both paths against open_clip's tokenizer.
_FTFY_FREE = frozenset(map(chr, range(0x20, 0x7F))) - {"&"} | {"\t", "\n"}


def clean(text: str) -> str:
    """open_clip's ``clean="lower"``: ftfy, HTML entities (twice), whitespace, lower case."""
    if not text.isascii() or not _FTFY_FREE.issuperset(text):
        import ftfy  # here: plain ASCII queries (most) never need it

        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    text = text.strip()
    return " ".join(text.split()).strip().lower()


def open_clip_bpe_path() -> Path:
    """The ``bpe_simple_vocab_16e6.txt.gz`` inside the installed open_clip package.

    Found with ``importlib.util.find_spec`` (which does not run open_clip's ``__init__``, so torch
    is not imported).

    Raises:
        TokenizerError: open_clip is not installed or its folder lacks the file.
    """
    spec = importlib.util.find_spec("open_clip")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / BPE_FILE
        if path.is_file():
            return path
    raise TokenizerError(
        f"cannot find {BPE_FILE}: open_clip (open-clip-torch) is not installed here "
        f"({'searched ' + ', '.join(folders) if folders else 'no open_clip package'}); "
        f"pass a tokenizer.json saved with CLIPTokenizer.save instead"
    )


def read_merges(path: Path) -> list[tuple[str, str]]:
    """The 48,894 BPE merges of a ``bpe_simple_vocab_16e6.txt.gz`` file, in rank order.

    Raises:
        TokenizerError: unreadable, or fewer merges than CLIP uses.
    """
    try:
        lines = gzip.open(path).read().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise TokenizerError(f"cannot read the BPE vocabulary {path}: {e}") from None
    pairs = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]  # line 0 is a version header
    if len(pairs) != NUM_MERGES or any(len(p) != 2 for p in pairs):
        raise TokenizerError(f"{path}: expected {NUM_MERGES} merge pairs after the header, got {len(pairs)}")
    return pairs  # type: ignore[return-value]


def clip_vocab(merges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """open_clip's token -> id table: bytes, bytes + ``</w>``, one token per merge, SOT, EOT."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [c + END_OF_WORD for c in alphabet] + ["".join(m) for m in merges] + [SOT, EOT]
    return {t: i for i, t in enumerate(tokens)}


class CLIPTokenizer:
    """open_clip's ``SimpleTokenizer`` (``clean="lower"``, truncation) on numpy and ``tokenizers``.

    Args:
        bpe: a ``tokenizers`` Tokenizer whose model is CLIP's BPE (``</w>`` end-of-word suffix)
            with SOT and EOT as the two last ids; build one with :meth:`from_bpe_file`,
            :meth:`from_open_clip` or :meth:`from_file`.
        context_length: default L of :meth:`__call__` (77 as CLIP; TempMe uses 32).

    Raises:
        TokenizerError: the vocabulary lacks CLIP's special tokens.
    """

    def __init__(self, bpe: Tokenizer, context_length: int = DEFAULT_CONTEXT_LENGTH) -> None:
        self._bpe = bpe
        sot, eot = bpe.token_to_id(SOT), bpe.token_to_id(EOT)
        if sot is None or eot is None:
            raise TokenizerError(f"not a CLIP vocabulary: {SOT} / {EOT} missing")
        self.sot_token_id: int = sot
        self.eot_token_id: int = eot
        self.vocab_size = bpe.get_vocab_size(with_added_tokens=False)
        self.context_length = context_length
        self._byte_map = bytes_to_unicode()
        self._special = {SOT: self.sot_token_id, EOT: self.eot_token_id}

    @classmethod
    def from_bpe_file(cls, path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> CLIPTokenizer:
        """From a ``bpe_simple_vocab_16e6.txt.gz`` file (about 0.1 s)."""
        merges = read_merges(Path(path))
        model = BPE(clip_vocab(merges), merges, end_of_word_suffix=END_OF_WORD, ignore_merges=False)
        return cls(Tokenizer(model), context_length)

    @classmethod
    def from_open_clip(cls, context_length: int = DEFAULT_CONTEXT_LENGTH) -> CLIPTokenizer:
        """From the vocabulary file inside the installed open_clip package (torch not imported)."""
        return cls.from_bpe_file(open_clip_bpe_path(), context_length)

    @classmethod
    def from_file(cls, path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> CLIPTokenizer:
        """From a ``tokenizer.json`` written by :meth:`save`.

        Raises:
            TokenizerError: unreadable or not a CLIP vocabulary.
        """
        try:
            bpe = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception for bad JSON
            raise TokenizerError(f"cannot read tokenizer {path}: {e}") from None
        return cls(bpe, context_length)

    def save(self, path: Path) -> None:
        """Write the vocabulary and merges as a ``tokenizers`` JSON file (about 2 MB)."""
        self._bpe.save(str(path))

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without SOT/EOT and without truncation (open_clip's ``encode``).

        Lone surrogates (what Python makes of a non-UTF-8 byte in ``sys.argv``) become U+FFFD
        in ftfy's cleaning, as in open_clip.
        """
        out: list[int] = []
        words: list[str] = []
        for word in WORD_PATTERN.findall(clean(text)):
            if word in self._special:  # a literal "<end_of_text>" is the special token in open_clip too
                out.extend(self._word_ids(words))
                words = []
                out.append(self._special[word])
                continue
            words.append("".join(self._byte_map[b] for b in word.encode("utf-8")))
        out.extend(self._word_ids(words))
        return out

    def _word_ids(self, words: list[str]) -> list[int]:
        if not words:
            return []
        # every word is one pre-token: BPE never merges across words, and </w> ends each one
        return self._bpe.encode(words, is_pretokenized=True, add_special_tokens=False).ids

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        """Tokenize as open_clip's ``tokenizer(texts, context_length)``.

        Args:
            texts: one string or (Q,) strings.
            context_length: L; default the tokenizer's.

        Returns:
            (Q, L) int64 ids: SOT, the text's ids, EOT, zeros. A longer text is cut to L ids and
            its last id set to EOT.

        Raises:
            TypeError: an item is not a string.
            ValueError: ``context_length`` < 2.
        """
        if isinstance(texts, str):
            texts = [texts]
        L = context_length or self.context_length
        if L < 2:
            raise ValueError(f"context_length must be >= 2 (start and end tokens), got {L}")
        out = np.zeros((len(texts), L), dtype=np.int64)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
            ids = [self.sot_token_id, *self.encode(text), self.eot_token_id]
            if len(ids) > L:
                ids = ids[:L]
                ids[-1] = self.eot_token_id
            out[i, : len(ids)] = ids
        return out
