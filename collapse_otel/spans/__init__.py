"""Reading GenAI spans: conventions, per-trace holding, the retrieval join, records from facts.

Shared by capture (CollapseSpanProcessor, the completion hook) and serve (the OTLP receiver), so
a span gives the same record in-process and out of process. Below both: it imports neither, nor
the SDK (spans arrive as attribute mappings and ids), nor the pipeline.
"""
