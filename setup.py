"""The compiled core (csrc/ccore.c) as an optional extension: every other setting lives in
pyproject.toml. When it cannot be built (no compiler, no Python headers) the install still
succeeds and collapse-otel runs its numpy path, which gives the same values."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("collapse_otel._ccore", sources=["csrc/ccore.c"],
                             extra_compile_args=["-O2", "-std=c99"], optional=True)])
