"""What a process keeps on disk: the aggregator's state as frames (frames.py), the versioned,
checksummed state file serve, multiprocess and compare share (file.py), and the log of the
service's own answer hashes that ``audit --own-answers`` reads (answer_hashes.py).

Formats and files only: nothing here knows the engine's types.
"""
