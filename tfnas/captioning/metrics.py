"""Caption metrics as the COCO caption evaluation computes them: BLEU-1..4 and CIDEr-D.

Both follow the scorers of the official COCO caption evaluation code (`pycocoevalcap`,
github.com/tylin/coco-caption), term for term:

- **Tokenisation** (`tokenize`): the official code runs Stanford's Java PTBTokenizer with
  `-lowerCase` and then drops the punctuation tokens of `PUNCTUATION`. Here a regular
  expression stands in for the Java tokenizer (no Java needed): lower-case, split off
  punctuation and the clitics `'s 're 've 'll 'd 'm n't` as PTB does, then drop the same
  punctuation tokens. On captions made of words, digits and ordinary punctuation the two
  agree; exotic input (URLs, abbreviations with inner dots) may split differently.
- **BLEU** (Papineni et al., 2002): corpus-level, clipped n-gram precisions summed over all
  images, the brevity penalty from the summed "closest" reference lengths (per image, the
  reference length nearest the candidate's, ties to the shorter), and the official code's
  `1e-15 / 1e-9` guards, so a corpus without a matching 4-gram scores about 1e-4, not 0.
- **CIDEr-D** (Vedantam et al., arXiv 1411.5726; the "-D" variant of the official code):
  for n = 1..4, TF-IDF vectors of n-gram counts, with document frequencies counted over the
  reference sets of the evaluated images (an n-gram counts once per image) and
  `idf = log(#images) - log(max(1, df))`; per reference, the clipped cosine
  `sum_g min(c_g, r_g) r_g / (|c| |r|)`, times the Gaussian length penalty
  `exp(-(l_c - l_r)^2 / (2 sigma^2))` with sigma = 6 where the lengths are the official
  code's (the number of bigram positions: one less than the token count); the mean over
  n = 1..4 and over the references, times 10. The corpus score is the mean over images.

`CiderD(references)` fixes the corpus once (document frequencies, reference vectors), for
scoring many candidate sets against the same references (the validation reward of a
search); `cider_d(candidates, references)` is the official evaluation, whose corpus is the
evaluated images.

References:
    - Vedantam, Zitnick & Parikh, CIDEr: Consensus-based Image Description Evaluation,
      arXiv 1411.5726.
    - Papineni et al., BLEU: a Method for Automatic Evaluation of Machine Translation, ACL 2002.
    - Chen et al., Microsoft COCO Captions: Data Collection and Evaluation Server,
      arXiv 1504.00325.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

#: Tokens the official evaluation drops after PTB tokenisation (lower-cased PTB bracket names).
PUNCTUATION: frozenset[str] = frozenset(
    ["''", "'", "``", "`", "-lrb-", "-rrb-", "-lcb-", "-rcb-", ".", "?", "!", ",", ":", "-", "--", "...", ";"])
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-", "[": "-lsb-", "]": "-rsb-"}
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|\.\.\.|--|``|''|[a-z0-9]+(?:[-./][a-z0-9]+)*(?=n't)|"
                    r"[a-z0-9]+(?:[-./][a-z0-9]+)*|[^\sa-z0-9]")

Caption = str | Sequence[str]


def tokenize(sentence: str) -> list[str]:
    """PTB-style tokens of a caption, lower-cased, punctuation dropped (see the module doc).

    Example:
    >>> tokenize("A dog's ball, isn't it?")
    ['a', 'dog', "'s", 'ball', 'is', "n't", 'it']
    """
    if not isinstance(sentence, str):
        raise TypeError(f"tokenize takes a string. Received: {type(sentence).__name__}")
    tokens = (_BRACKETS.get(t, t) for t in _TOKEN.findall(sentence.lower().replace('"', " '' ")))
    return [t for t in tokens if t not in PUNCTUATION]


def _tokens(caption: Caption) -> tuple[str, ...]:
    return tuple(tokenize(caption)) if isinstance(caption, str) else tuple(str(t) for t in caption)


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i:i + k])] += 1
    return counts


def _check(candidates: Mapping[Hashable, Caption], references: Mapping[Hashable, Sequence[Caption]]) -> None:
    if not candidates:
        raise ValueError("candidates is empty: give one caption per image id.")
    missing = [k for k in candidates if k not in references]
    if missing:
        raise ValueError(f"{len(missing)} candidate image ids have no references, e.g. {missing[0]!r}.")
    empty = [k for k in candidates if not references[k]]
    if empty:
        raise ValueError(f"image {empty[0]!r} has an empty reference list: every image needs >= 1 reference.")


def bleu(candidates: Mapping[Hashable, Caption], references: Mapping[Hashable, Sequence[Caption]],
         n: int = 4) -> list[float]:
    """Corpus BLEU-1..n of one candidate per image against its references (official COCO code).

    Args:
        candidates: Image id -> candidate caption (a string, tokenised here, or tokens).
        references: Image id -> reference captions (strings or token lists); must cover
            every candidate id.
        n: Largest n-gram.

    Returns:
        `[BLEU-1, ..., BLEU-n]` in [0, 1].

    Raises:
        ValueError: for no candidates, or a candidate without references.

    Example:
    >>> round(bleu({0: "a cat on a mat"}, {0: ["a cat on a mat"]})[3], 6)
    1.0
    """
    _check(candidates, references)
    small, tiny = 1e-9, 1e-15  # the official code's guards
    guess, correct = [0] * n, [0] * n
    test_len = ref_len = 0
    for key, caption in candidates.items():
        tokens = _tokens(caption)
        refs = [_tokens(r) for r in references[key]]
        max_counts: Counter = Counter()
        for ref in refs:
            for gram, count in _ngrams(ref, n).items():
                max_counts[gram] = max(max_counts[gram], count)
        test_len += len(tokens)
        ref_len += min((abs(len(r) - len(tokens)), len(r)) for r in refs)[1]
        for gram, count in _ngrams(tokens, n).items():
            correct[len(gram) - 1] += min(max_counts.get(gram, 0), count)
        for k in range(n):
            guess[k] += max(0, len(tokens) - k)
    scores, product = [], 1.0
    for k in range(n):
        product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


class CiderD:
    """CIDEr-D against a fixed reference corpus (document frequencies and reference vectors once).

    Args:
        references: Image id -> reference captions (strings or token lists), the corpus.
        n: Largest n-gram.
        sigma: Width of the Gaussian length penalty.

    Raises:
        ValueError: for an empty corpus or an image without references.

    Example:
    >>> scorer = CiderD({0: ["a cat"], 1: ["a dog"]})
    >>> scorer.score({0: "a cat", 1: "a dog"})
    5.0
    """

    def __init__(self, references: Mapping[Hashable, Sequence[Caption]], n: int = 4, sigma: float = 6.0) -> None:
        if not references:
            raise ValueError("references is empty: CIDEr-D needs a corpus of reference captions.")
        empty = [k for k, refs in references.items() if not refs]
        if empty:
            raise ValueError(f"image {empty[0]!r} has an empty reference list: every image needs >= 1 reference.")
        self.n, self.sigma = int(n), float(sigma)
        cooked = {key: [_ngrams(_tokens(r), self.n) for r in refs] for key, refs in references.items()}
        self.document_frequency: Counter = Counter()
        for refs in cooked.values():
            self.document_frequency.update({gram for counts in refs for gram in counts})
        self.log_corpus = math.log(float(len(cooked)))
        self._refs = {key: [self._vector(c) for c in refs] for key, refs in cooked.items()}

    def _vector(self, counts: Counter) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            value = float(tf) * (self.log_corpus - math.log(max(1.0, self.document_frequency.get(gram, 0.0))))
            vec[k][gram] = value
            norm[k] += value * value
            if k == 1:  # the official code's length: bigram positions
                length += tf
        return vec, [math.sqrt(v) for v in norm], length

    def image_score(self, key: Hashable, caption: Caption) -> float:
        """CIDEr-D of one candidate caption for image `key`."""
        if key not in self._refs:
            raise ValueError(f"image {key!r} is not in the reference corpus.")
        vec, norm, length = self._vector(_ngrams(_tokens(caption), self.n))
        refs = self._refs[key]
        total = 0.0
        for ref_vec, ref_norm, ref_length in refs:
            penalty = math.exp(-((length - ref_length) ** 2) / (2 * self.sigma ** 2))
            for k in range(self.n):
                value = sum(min(v, ref_vec[k].get(g, 0.0)) * ref_vec[k].get(g, 0.0) for g, v in vec[k].items())
                if norm[k] != 0 and ref_norm[k] != 0:
                    value /= norm[k] * ref_norm[k]
                total += value * penalty
        return 10.0 * total / self.n / len(refs)

    def image_scores(self, candidates: Mapping[Hashable, Caption]) -> dict[Hashable, float]:
        """Image id -> CIDEr-D for each candidate."""
        if not candidates:
            raise ValueError("candidates is empty: give one caption per image id.")
        return {key: self.image_score(key, caption) for key, caption in candidates.items()}

    def score(self, candidates: Mapping[Hashable, Caption]) -> float:
        """Mean CIDEr-D over the candidates."""
        scores = self.image_scores(candidates)
        return sum(scores.values()) / len(scores)


def cider_d(candidates: Mapping[Hashable, Caption], references: Mapping[Hashable, Sequence[Caption]],
            n: int = 4, sigma: float = 6.0) -> float:
    """The official CIDEr-D of a candidate set: the corpus is the references of the candidates' images.

    Raises:
        ValueError: for no candidates, or a candidate without references.
    """
    _check(candidates, references)
    return CiderD({key: references[key] for key in candidates}, n=n, sigma=sigma).score(candidates)
