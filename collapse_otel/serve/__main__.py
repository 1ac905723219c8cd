"""``python -m collapse_otel.serve``: the same as ``collapse-otel serve``."""

import sys

from ..cli import single_threaded_blas

single_threaded_blas()

from . import main  # noqa: E402 - after the BLAS setting, before numpy loads

if __name__ == "__main__":
    sys.exit(main())
