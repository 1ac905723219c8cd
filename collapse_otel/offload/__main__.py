"""``python -m collapse_otel.offload FD``: the analysis process (started by the host only)."""

from __future__ import annotations

import sys

from .child import serve

if __name__ == "__main__":
    raise SystemExit(serve(int(sys.argv[1])))
