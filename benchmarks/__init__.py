"""Performance harness (`make bench`): every figure is measured, ratios run in one process."""
