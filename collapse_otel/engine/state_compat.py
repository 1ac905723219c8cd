"""Restoring state written under another configuration: keep what is compatible, rebuild
the rest (counted and logged), never raise on every later batch.

The state carries a fingerprint of what its sketches depend on. On restore, each part that
differs is brought to the current configuration: samples cut to the new size, embeddings
dropped when the embedder changed (they rebuild as new answers enter the sample), duplicate
indexes re-keyed for new LSH parameters (or reduced to exact checks when the token hash
changed), thresholds and window sizes taken from the new configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..signals.duplicates import SHINGLE_SKETCH, DuplicateIndex, band_keys_for
from ..signals.embedders import LazyModelEmbedder
from ..signals.minhash import MinHasher
from ..text.hashing import HASH_VERSION
from .pane import Pane
from .stream import StreamState

if TYPE_CHECKING:
    from ..config import CollapseConfig
    from ..signals.embedding import Embedder

_log = logging.getLogger(__name__)


def fingerprint(config: CollapseConfig, embedder: Embedder, minhasher: MinHasher,
                ) -> dict[str, object]:
    """What restored sketches must agree with."""
    return {
        "hash": HASH_VERSION,
        "minhash": [minhasher.bands, minhasher.rows],
        "shingles": SHINGLE_SKETCH,
        "sample_size": config.sample_size,
        "embedder": f"{_embedder_kind(embedder)}:{getattr(embedder, 'dim', 0)}",
        "threshold": config.near_duplicate_threshold,
        "window": [max(1, (config.window_answers + 1) // 2), config.window_seconds / 2],
    }


def _embedder_kind(embedder: Embedder) -> str:
    """The embedder's class, and a bundled model's name (two models share one class)."""
    kind = type(embedder).__name__
    return f"{kind}/{embedder.name}" if isinstance(embedder, LazyModelEmbedder) else kind


def reconcile(streams: Iterable[StreamState], stored: dict | None, current: dict,
              minhasher: MinHasher) -> dict[str, int]:
    """Bring restored streams to the current configuration; parts rebuilt, by name."""
    stored = stored or {}
    changed = {k for k in current if k in stored and stored[k] != current[k]}
    rebuilt: dict[str, int] = {}
    for state in streams:
        for part in sorted(changed):
            rebuilt[part] = rebuilt.get(part, 0) + _apply(state, part, current, minhasher)
    rebuilt = {k: v for k, v in rebuilt.items() if v}
    if rebuilt:
        _log.warning("collapse-otel: state written under another configuration (%s); "
                     "rebuilt: %s", ", ".join(sorted(changed)),
                     ", ".join(f"{k} x{v}" for k, v in sorted(rebuilt.items())))
    return rebuilt


def _panes(state: StreamState) -> list[Pane]:
    return [p for p in (state.previous, state.current) if p is not None]


def _apply(state: StreamState, part: str, current: dict, minhasher: MinHasher) -> int:
    """Rebuild one part of one stream; how many panes (or streams) it touched."""
    if part == "window":
        state.pane_answers, state.pane_seconds = current["window"]
        return 1
    touched = 0
    for pane in _panes(state):
        if part == "sample_size":
            sample = pane.sample
            sample.k = current["sample_size"]
            if len(sample.items) > sample.k:   # slots are in random order: a uniform subset
                sample.items = sample.items[:sample.k]
                sample.item_bytes = sum(map(sample.sizeof, sample.items))
        elif part in ("embedder", "hash"):
            sample = pane.sample
            sample.items = [i._replace(embedding=b"") for i in sample.items]
            sample.item_bytes = sum(map(sample.sizeof, sample.items))
            if part == "hash":
                pane.duplicates = _rekeyed(pane.duplicates, minhasher, keep_shingles=False)
        elif part in ("minhash", "shingles"):
            pane.duplicates = _rekeyed(pane.duplicates, minhasher, keep_shingles=True)
        elif part == "threshold":
            pane.duplicates.threshold = current["threshold"]
        touched += 1
    return touched


def _rekeyed(old: DuplicateIndex, minhasher: MinHasher, keep_shingles: bool) -> DuplicateIndex:
    """The same answers under the current LSH parameters (shingles cut to the sketch); without
    ``keep_shingles`` only their exact hashes (shingles of another token hash compare with
    nothing)."""
    new = DuplicateIndex(old.threshold, minhasher)
    for th, sh in zip(old.text_hashes, old.shingles, strict=True):
        if sh is None or not keep_shingles or not len(sh):
            new.add(th, None, None, exact=sh is None, near=False)
            continue
        sh = sh[:SHINGLE_SKETCH]
        new.add(th, sh, band_keys_for(minhasher, sh), exact=False, near=False)
    new.exact_count, new.near_count = old.exact_count, old.near_count
    return new
