"""The same signals built the obvious way from baseline libraries, for in-process ratios:
datasketch MinHash-LSH (shared permutations, xxh3), Python sets for n-grams, per-answer numpy
for the embedding sketch. Benchmark-only code."""

from __future__ import annotations

import re

import numpy as np
import xxhash
from datasketch import MinHash, MinHashLSH

from collapse_otel.text.entities import RuleBasedEntityExtractor

_WORD = re.compile(r"\w+")


def _h32(b: bytes) -> int:
    return xxhash.xxh3_64_intdigest(b) & 0xFFFFFFFF


class BaselinePipeline:
    def __init__(self, dim: int = 128, bands: int = 10, rows: int = 3) -> None:
        self.num_perm = bands * rows
        proto = MinHash(num_perm=self.num_perm, hashfunc=_h32)
        self.perms, self.scheme = proto.permutations, proto.scheme
        self.lsh = MinHashLSH(num_perm=self.num_perm, params=(bands, rows))
        self.shingles: dict[int, set] = {}
        self.exact: set[str] = set()
        self.entities = RuleBasedEntityExtractor()
        self.dim = dim
        self.S = np.zeros((dim, dim))
        self.sum = np.zeros(dim)
        self.seq_rep_total = 0.0
        self.entity_counts: dict[str, int] = {}
        self.n = 0

    def observe(self, text: str) -> None:
        norm = " ".join(text.lower().split())
        tokens = _WORD.findall(norm)
        grams4 = [tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)]
        if grams4:
            self.seq_rep_total += 1 - len(set(grams4)) / len(grams4)
        for e in self.entities.extract(text):
            self.entity_counts[e] = self.entity_counts.get(e, 0) + 1
        x = np.zeros(self.dim)
        for tok in tokens:
            h = xxhash.xxh3_64_intdigest(tok.encode())
            x[(h >> 1) % self.dim] += 1.0 - 2.0 * (h & 1)
        norm2 = np.linalg.norm(x)
        if norm2:
            x /= norm2
            self.S += np.outer(x, x)
            self.sum += x
        self.n += 1
        if norm in self.exact:
            return
        self.exact.add(norm)
        shingles = {" ".join(tokens[i:i + 5]).encode() for i in range(len(tokens) - 4)}
        if not shingles:
            return
        m = MinHash(num_perm=self.num_perm, hashfunc=_h32, permutations=self.perms,
                    scheme=self.scheme)
        m.update_batch(list(shingles))
        for key in self.lsh.query(m):
            other = self.shingles[key]
            _ = len(shingles & other) / len(shingles | other)
        self.shingles[self.n] = shingles
        self.lsh.insert(self.n, m)
