"""Recursive-training simulation: ground truth for the collapse signals.

Human answers from WikiText-2 (``wikitext``), a trigram model with top-p sampling (``ngram``),
and the loop that trains each generation on the previous one's answers or on everything so far
(``recursive``). Pure Python and numpy; nothing here imports the capture or export layers.
"""

from .ngram import TrigramModel
from .recursive import REGIMES, Generation, run_simulation
from .wikitext import load_human_answers

__all__ = ["REGIMES", "Generation", "TrigramModel", "load_human_answers", "run_simulation"]
