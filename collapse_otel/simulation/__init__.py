"""Recursive-training simulation: ground truth for the collapse signals.

Human answers from a corpus (``corpora``: WikiText-2, speeches, mailing lists), a trigram model with top-p sampling (``ngram``),
and the loop that trains each generation on the previous one's answers or on everything so far
(``recursive``). Pure Python and numpy; nothing here imports the capture or export layers.
"""

from .corpora import CORPORA, load_corpus
from .ngram import TrigramModel
from .recursive import REGIMES, Generation, run_simulation
from .wikitext import load_human_answers

__all__ = ["CORPORA", "REGIMES", "Generation", "TrigramModel", "load_corpus", "load_human_answers",
           "run_simulation"]
