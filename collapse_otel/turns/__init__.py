"""One user turn of an LLM application: which of its LLM calls is the answer (answers.py)
and whether an agent turn looped or hit a step limit (loops.py).

Shared by every capture path (the LangChain handler, span reading) and the worker.
"""
