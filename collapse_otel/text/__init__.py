"""Text handling: normalisation, tokens, stable hashes and entity extraction. No OTel imports."""

from .entities import (
    ENTITY_KINDS,
    EntityExtractor,
    RuleBasedEntityExtractor,
    SpacyEntityExtractor,
    entity_key,
)
from .hashing import NgramBatch, TokenHasher, ngram_hashes, shingle_set, text_hash, token_hash
from .normalize import clean_text, normalize, tokenize, whitespace_tokens

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
