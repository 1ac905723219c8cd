"""Text handling: normalisation, tokens, stable hashes and entity extraction. No OTel imports.

The entity and hashing names load lazily: importing one small module of this package
(``text.labels``, which the configuration uses) must not load numpy and the entity word lists
into a gunicorn master."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .entities import (
        ENTITY_KINDS,
        EntityExtractor,
        RuleBasedEntityExtractor,
        SpacyEntityExtractor,
        entity_key,
    )
    from .hashing import (
        NgramBatch,
        TokenHasher,
        ngram_hashes,
        shingle_set,
        text_hash,
        token_hash,
    )

# eager: cheap (no numpy), and ``normalize`` is also a submodule's name, which a lazy lookup
# would return once the submodule is loaded
from .normalize import clean_text, normalize, tokenize, whitespace_tokens

_HOMES = {
    **dict.fromkeys(("ENTITY_KINDS", "EntityExtractor", "RuleBasedEntityExtractor",
                     "SpacyEntityExtractor", "entity_key"), "entities"),
    **dict.fromkeys(("NgramBatch", "TokenHasher", "ngram_hashes", "shingle_set", "text_hash",
                     "token_hash"), "hashing"),
}

__all__ = [
    "ENTITY_KINDS",
    "EntityExtractor",
    "RuleBasedEntityExtractor",
    "SpacyEntityExtractor",
    "entity_key",
    "NgramBatch",
    "TokenHasher",
    "clean_text",
    "ngram_hashes",
    "normalize",
    "shingle_set",
    "text_hash",
    "token_hash",
    "tokenize",
    "whitespace_tokens",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
