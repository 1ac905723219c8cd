"""The capture worker: a bounded queue and one daemon thread that fold answers into an
``Aggregator`` (pipeline.py); the ledger that counts an answer two capture paths saw once
(ledger.py); the map of answer references to streams that feedback lands on (references.py);
the drop reasons and statistics the exporters read (health.py).
"""
