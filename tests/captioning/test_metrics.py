"""CIDEr-D and BLEU against values computed by hand from the official definitions."""

from __future__ import annotations

import math

import pytest

from tfnas.captioning.metrics import CiderD, bleu, cider_d, tokenize


def test_tokenize_lowercases_splits_clitics_and_drops_punctuation():
    assert tokenize("A Dog's ball, isn't it? (Yes.)") == ["a", "dog", "'s", "ball", "is", "n't", "it", "yes"]
    assert tokenize("a well-known 3.5 -- \"quote\" ...") == ["a", "well-known", "3.5", "quote"]
    with pytest.raises(TypeError):
        tokenize(["a", "b"])


def test_cider_d_of_exact_matches_with_a_shared_word():
    """Two images, one reference each; "a" is in both, so its idf is log 2 - log 2 = 0, and
    only the unigram and bigram terms carry weight: (1 + 1 + 0 + 0) / 4 * 10 = 5."""
    refs = {"a": ["a cat"], "b": ["a dog"]}
    assert cider_d({"a": "a cat", "b": "a dog"}, refs) == pytest.approx(5.0)


def test_cider_d_clips_repeats_and_penalises_length():
    """Candidate "a cat cat" for the reference "a cat" (corpus: "a cat", "a dog"), by hand:
    n=1: the clipped dot (cat: min(2 l, l) * l = l^2, l = log 2) over norms 2l * l: 1/2;
    n=2: "a cat" matches, "cat cat" (df 0, idf l) has no reference weight: l^2 / (sqrt 2 l * l);
    lengths 2 and 1 bigram positions: penalty exp(-1 / 72)."""
    scorer = CiderD({"a": ["a cat"], "b": ["a dog"]})
    expected = 10 * (0.5 + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72)
    assert scorer.image_score("a", "a cat cat") == pytest.approx(expected)
    # Two references: the mean over them (the second reference, "the cat", shares only "cat").
    two = CiderD({"a": ["a cat", "the cat"], "b": ["a dog"]})
    l2 = math.log(2)
    # idf: a 0 (df 2), cat l2 - log 1 ... df(cat) = 1 image, so idf(cat) = l2; the = l2; "the cat" = l2.
    # vs "a cat": unigram cos 1 (only "cat" weighs), bigram cos 1 -> (1 + 1) / 4;
    # vs "the cat": unigram: cat l2 * l2 / (l2 * sqrt(2) l2) = 1/sqrt2; bigram 0 -> (1/sqrt2) / 4.
    assert two.image_score("a", "a cat") == pytest.approx(10 * ((2 / 4) + (1 / math.sqrt(2)) / 4) / 2)
    assert l2 > 0


def test_cider_d_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="no references"):
        cider_d({"x": "a cat"}, {"a": ["a cat"]})
    with pytest.raises(ValueError, match="empty reference list"):
        CiderD({"a": []})
    with pytest.raises(ValueError, match="not in the reference corpus"):
        CiderD({"a": ["a cat"]}).image_score("b", "a cat")


def test_bleu_by_hand():
    """"the cat sat on the mat" against "the cat is on the mat": clipped precisions 5/6, 3/5,
    1/4, 0/3; equal lengths, no brevity penalty."""
    scores = bleu({0: "the cat sat on the mat"}, {0: ["the cat is on the mat"]})
    assert scores[0] == pytest.approx(5 / 6)
    assert scores[1] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert scores[2] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))
    assert scores[3] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1e-15 / (3 + 1e-9)) ** 0.25)
    # Brevity: "the cat" against the closest reference length (6 here): BP exp(1 - 6 / 2).
    short = bleu({0: "the cat"}, {0: ["the cat is on the mat", "a cat on a big red mat"]})
    assert short[0] == pytest.approx(1.0 * math.exp(1 - 6 / 2))
    # Corpus level: counts summed over images before the ratio.
    corpus = bleu({0: "a b", 1: "c d"}, {0: ["a b"], 1: ["c e"]})
    assert corpus[0] == pytest.approx(3 / 4) and corpus[1] == pytest.approx(math.sqrt(3 / 4 * 1 / 2))
