"""Text handling: normalisation, tokens, stable hashes and entity extraction. No OTel imports."""

from .hashing import NgramBatch, TokenHasher, ngram_hashes, shingle_set, text_hash, token_hash
from .normalize import clean_text, normalize, tokenize, whitespace_tokens

__all__ = [
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
