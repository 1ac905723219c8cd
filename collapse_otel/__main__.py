"""``python -m collapse_otel``: the same as the ``collapse-otel`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
