"""``python -m collapse_otel.serve``: the same as ``collapse-otel serve``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
