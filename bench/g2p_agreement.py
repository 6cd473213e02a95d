"""How well espeak-ng's letter-to-sound fallback agrees with the CMU dictionary, on dictionary
words it is not told about.

Draws ``--n`` words (letters only, seeded) from pocketsphinx's ``cmudict-en-us.dict`` and
phonemises them with espeak-ng mapped to ARPAbet (:func:`tempme.index.words.g2p.espeak_phones`, the
path words outside the dictionary take), then compares with the dictionary's pronunciations
(the closest one of each word's alternatives):

- word accuracy: all phones equal;
- phone error rate (PER): (substitutions + deletions + insertions) / dictionary phones;
- the same after the phonetic matcher's cost table (:func:`tempme.index.words.phonetic.phone_distance`):
  the mean normalised matching score a word would get against its own dictionary entry
  (1.0 = a perfect match), which is what the fallback costs the spoken-term search.

    python bench/g2p_agreement.py [--n 2000] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tempme.index.words.g2p import espeak_phones, load_cmudict
from tempme.index.words.phonetic import CostModel, phone_distance


def edit_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (x != y))
    return row[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    lexicon = load_cmudict()
    words = sorted(w for w in lexicon if w.isalpha())
    sample = random.Random(args.seed).sample(words, args.n)
    t0 = time.perf_counter()
    guessed = espeak_phones(sample)
    seconds = time.perf_counter() - t0
    costs = CostModel()
    exact = errors = ref_phones = 0
    score_sum = 0.0
    for w, g in zip(sample, guessed):
        best = min(lexicon[w], key=lambda ref: edit_distance(ref, g))
        d = edit_distance(best, g)
        exact += d == 0
        errors += d
        ref_phones += len(best)
        score_sum += max(1 - phone_distance(best, g, costs) / costs.deletion_total(best), 0.0)
    out = {
        "words": args.n,
        "word_accuracy": round(exact / args.n, 4),
        "phone_error_rate": round(errors / ref_phones, 4),
        "mean_match_score": round(score_sum / args.n, 4),
        "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"espeak-ng letter-to-sound vs CMUdict on {args.n} held-out dictionary words (seed {args.seed})")
    print("| word accuracy | phone error rate | mean match score | espeak-ng time |")
    print("|---|---|---|---|")
    print(
        f"| {out['word_accuracy']:.3f} | {out['phone_error_rate']:.3f} | {out['mean_match_score']:.3f} | {seconds:.1f} s |"
    )


if __name__ == "__main__":
    main()
