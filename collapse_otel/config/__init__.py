"""Configuration: ``CollapseConfig`` (settings.py), every environment variable it reads
(envvars.py) and the release lineage it declares (lineage.py).

Nothing here imports the engine, capture or exporters: every layer reads its configuration
from below.
"""

from __future__ import annotations

from .settings import CollapseConfig, ConfigError

__all__ = ["CollapseConfig", "ConfigError"]
