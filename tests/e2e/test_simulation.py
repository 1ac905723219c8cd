"""The recursive-training simulation: human answers, the sampler, and the two regimes.

The regime checks use the exact batch definitions (collapse_otel.signals.batch) on each
generation's tokens end to end, not the aggregator: they test the simulation, not the signals.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from collapse_otel.signals.batch import distinct_n, ngram_diversity_score
from collapse_otel.simulation import load_corpus, load_human_answers, run_simulation
from collapse_otel.simulation.ngram import TrigramModel, _Uniform
from collapse_otel.simulation.tokens import detokenize, word_count
from collapse_otel.simulation.wikitext import (
    MAX_SENTENCES,
    MAX_WORDS,
    MIN_WORDS,
    clean_sentence,
    default_files,
    join_marks,
)
from collapse_otel.text.normalize import tokenize
from tests.support.data import DATA

GENERATIONS, ANSWERS = 3, 1000


@pytest.fixture(scope="module")
def human():
    return load_human_answers(default_files(DATA / "wikitext-2"))


@pytest.fixture(scope="module")
def runs(human):
    return {regime: run_simulation(regime, GENERATIONS, ANSWERS, seed=0, human=human)
            for regime in ("replace", "accumulate")}


# -- human answers --

def _tokens(text: str) -> list[str]:
    """WikiText's form: tokens separated by single spaces."""
    return text.split(" ")


def test_markup_is_undone():
    assert join_marks(_tokens("a red @-@ tipped claw of 1 @,@ 000 or 0 @.@ 7 kg")) == \
        ["a", "red-tipped", "claw", "of", "1,000", "or", "0.7", "kg"]
    assert clean_sentence(_tokens("the <unk> lobster ( <unk> ) is blue .")) == \
        ("the", "lobster", "is", "blue", ".")
    assert clean_sentence(_tokens('a " <unk> " and re @-@ <unk> here .')) == ("a", "and", "here", ".")
    assert clean_sentence(_tokens("<unk> met <unk> and <unk> .")) is None  # too many holes


def test_human_answers_are_clean_and_answer_sized(human):
    assert len(human) > 3500
    texts = [detokenize(a) for a in human]
    assert texts[0].startswith("Homarus gammarus, known as the European lobster or common "
                               "lobster, is a species of lobster from the eastern Atlantic Ocean")
    assert "weigh 0.7 – 2.2 kg (1.5 – 4.9 lb)." in texts[2]
    joined = "\n".join(texts)
    for markup in ("@-@", "@,@", "@.@", "<unk>", "unk>", " = ", " ,", " .", "( ", " )", '""'):
        assert markup not in joined, markup
    for answer in human:
        assert 1 <= len(answer) <= MAX_SENTENCES
        assert MIN_WORDS <= word_count(answer) <= MAX_WORDS
        assert all(s[-1] in {".", "?", "!"} for s in answer)


def test_detokenize_attaches_punctuation_and_quotes():
    tokens = _tokens('He said " yes " ( twice ) , and it \'s $ 5 .')
    assert detokenize([tokens]) == "He said \"yes\" (twice), and it's $5."


# -- the sampler --

def _oracle(answers, a, b, top_p, temperature):
    """The top-p nucleus of the Witten-Bell backoff ranking, by brute force over counts."""
    seqs = [("<s>", "<s>", *s) for answer in answers for s in answer]
    tri = Counter((x[i - 2], x[i - 1], x[i]) for x in seqs for i in range(2, len(x)))
    bi = Counter((x[i - 1], x[i]) for x in seqs for i in range(2, len(x)))
    uni = Counter(x[i] for x in seqs for i in range(2, len(x)))
    levels = [{w: c for (x, y, w), c in tri.items() if (x, y) == (a, b)},
              {w: c for (y, w), c in bi.items() if y == b}]
    first = {w: i for i, w in reversed(list(enumerate(w for x in seqs for w in x)))}
    ranked, weight = [], 1.0
    for counts in levels:  # each order by count, ties by first appearance (as the model)
        if counts:
            total, types = sum(counts.values()), len(counts)
            z = sum(c ** (1 / temperature) for c in counts.values())
            for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]])):
                ranked.append((w, weight * total / (total + types) * c ** (1 / temperature) / z))
            weight *= types / (total + types)
    z = sum(c ** (1 / temperature) for c in uni.values())
    ranked += [(w, weight * c ** (1 / temperature) / z)
               for w, c in sorted(uni.items(), key=lambda kv: (-kv[1], first[kv[0]]))]
    nucleus, mass = Counter(), 0.0
    for w, p in ranked:
        nucleus[w] += p
        mass += p
        if mass >= top_p - 1e-12:
            break
    return {w: p / mass for w, p in nucleus.items()}


@pytest.mark.parametrize(("top_p", "temperature"), [(0.8, 1.0), (0.95, 0.7), (1.0, 1.0)])
def test_next_word_follows_the_top_p_nucleus_exactly(top_p, temperature):
    texts = ["the cat sat on the mat .", "the cat ate the fish .", "the dog sat on the cat .",
             "a dog ate a bone .", "the cat sat down .", "the bird sang .", "the cat sat ."]
    answers = [(tuple(t.split()),) for t in texts]
    model = TrigramModel(answers, top_p=top_p, temperature=temperature)
    ids = {w: i for i, w in enumerate(model.vocab)}
    draws = 20_000
    for a, b in [("<s>", "<s>"), ("<s>", "the"), ("the", "cat"), ("cat", "sat"), ("on", "the")]:
        expected = _oracle(answers, a, b, top_p, temperature)
        uniform = _Uniform(np.random.default_rng(7))
        seen = Counter(model.vocab[model._next(ids[a], ids[b], uniform)] for _ in range(draws))
        assert set(seen) <= set(expected), (a, b)  # nothing outside the nucleus, ever
        for w, p in expected.items():
            sigma = max((p * (1 - p) / draws) ** 0.5, 1e-9)
            assert abs(seen[w] / draws - p) < 5 * sigma, (a, b, w, seen[w] / draws, p)


# -- the loop --

def test_same_seed_same_answers(human):
    first = run_simulation("replace", 2, 200, seed=5, human=human)
    again = run_simulation("replace", 2, 200, seed=5, human=human)
    other = run_simulation("replace", 2, 200, seed=6, human=human)
    assert [g.answers for g in first] == [g.answers for g in again]
    assert first[2].answers != other[2].answers


def test_generation_zero_is_human_and_generation_one_is_shared(runs, human):
    human_texts = {detokenize(a) for a in human}
    for gens in runs.values():
        assert len(gens) == GENERATIONS + 1
        assert all(len(g.answers) == ANSWERS for g in gens)
        assert set(gens[0].answers) <= human_texts
        assert len(set(gens[1].answers) & human_texts) < ANSWERS // 100  # generated, not copied
    assert runs["replace"][1].answers == runs["accumulate"][1].answers
    assert runs["replace"][2].answers != runs["accumulate"][2].answers


def test_answer_lengths_stay_realistic(runs):
    for gens in runs.values():
        base = np.array([word_count(a) for a in gens[0].token_answers])
        for g in gens[1:]:
            words = np.array([word_count(a) for a in g.token_answers])
            assert abs(words.mean() / base.mean() - 1) < 0.15
            assert 40 <= np.median(words) <= 70
            assert np.mean((words >= 15) & (words <= 150)) > 0.97
            assert g.completion_tokens == [sum(map(len, a)) for a in g.token_answers]


def _diversity(gens):
    """(distinct-2, n-gram diversity score) of each generation's tokens end to end."""
    out = []
    for g in gens:
        tokens = [t for text in g.answers for t in tokenize(text)]
        out.append((distinct_n([tokens], 2), ngram_diversity_score(tokens)))
    return out


def test_replace_collapses_and_accumulate_levels_off(runs):
    rep, acc = _diversity(runs["replace"]), _diversity(runs["accumulate"])
    assert rep[1][0] < rep[0][0]  # the model is a real, measurable step away from human text
    assert rep[3][0] < 0.8 * rep[1][0]  # replace: clearly less diverse two generations on
    assert rep[3][1] < rep[2][1] < rep[1][1]
    for i in (0, 1):  # accumulate: the last step is small, and well under replace's step
        acc_step, rep_step = 1 - acc[3][i] / acc[2][i], 1 - rep[3][i] / rep[2][i]
        assert acc_step < 0.08 and acc_step < 0.5 * rep_step, (i, acc_step, rep_step)
    assert 1 - acc[3][1] / acc[2][1] < 0.05
    assert acc[3][0] > 1.15 * rep[3][0]


@pytest.mark.parametrize("name", ["sotu", "email"])
def test_plain_text_corpora_give_answers_like_wikitext(name):
    """Each corpus holds 3,000 answers for generation 0 plus a held-out pool, each 1-3
    sentences of 40-120 words, written back as text the product tokenises to the same words."""
    answers = load_corpus(name, DATA)
    assert len(answers) >= 4000
    for a in answers[::97]:
        assert 1 <= len(a) <= MAX_SENTENCES and MIN_WORDS <= word_count(a) <= MAX_WORDS
        assert all(s[-1] in {".", "?", "!"} for s in a)
        assert len(tokenize(detokenize(a))) >= word_count(a)


def test_plain_text_tokens_keep_abbreviations_and_numbers():
    from collapse_otel.simulation.corpora import sentences

    text = "Mr. Smith paid $1,000 in the U.S. last year... Did he? Yes: it's 2.5 percent!"
    assert list(sentences(text)) == [
        ("Mr.", "Smith", "paid", "$", "1,000", "in", "the", "U.S.", "last", "year", "."),
        ("Did", "he", "?"), ("Yes", ":", "it's", "2.5", "percent", "!")]
    with pytest.raises(ValueError, match="unknown corpus"):
        load_corpus("nope", DATA)


def test_the_corpus_location_is_an_argument_with_a_clear_error(tmp_path):
    """The package ships no corpus: an installed wheel reads them where it is told, and says
    what it expected where they are missing."""
    assert load_corpus("wikitext", str(DATA)) == load_corpus("wikitext", DATA)
    with pytest.raises(FileNotFoundError, match="does not exist: pass the folder"):
        load_corpus("sotu", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no WikiText-2 files in .*valid\.txt\.gz"):
        load_corpus("wikitext", tmp_path)
    with pytest.raises(FileNotFoundError, match="no addresses.txt.gz in"):
        load_corpus("sotu", tmp_path)
    with pytest.raises(TypeError, match="human"):
        run_simulation("replace", 1, 10)   # no default pool from a checkout
