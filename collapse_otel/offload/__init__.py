"""The analysis in a separate process (``analysis="process"``; see docs/host-overhead.md).

The host's threads only encode each record and copy its bytes into a socket shared with one
analysis process per host process (``host.ProcessPipeline``); that process runs an ordinary
capture pipeline (``child``) and writes its state file, which the host's /metrics merges as
in multiprocess mode. The in-process pipeline stays the fallback.
"""
