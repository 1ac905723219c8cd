"""What a test needs from outside the package: skip on a laptop without it, fail in CI."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_module(name: str):
    """Import a test-extra module; skip when missing on a laptop, fail when CI=true."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (it is in the test extra)")
        pytest.skip(f"{name} not installed (pip install --group test)")


def require_binary(name: str, package: str = "prometheus") -> str:
    """Path of a system binary; skip when missing on a laptop, fail when CI=true."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (Debian package '{package}')")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path
