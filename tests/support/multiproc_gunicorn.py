"""gunicorn settings of tests/integration/test_multiprocess_workers.py: the two hooks
docs/multiprocess.md asks for."""

from collapse_otel.multiprocess import clear_directory, mark_process_dead


def on_starting(server):
    clear_directory()                 # COLLAPSE_OTEL_MULTIPROC_DIR: a fresh deployment


def child_exit(server, worker):
    mark_process_dead(worker.pid)     # its counts move into the directory's archive
