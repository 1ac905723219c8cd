"""Operations files from one config: recording rules, alerts and Grafana dashboards.

``python -m collapse_otel.mixin [--config FILE] [--out DIR]`` (or ``collapse-otel mixin``)
regenerates them; :func:`generate` returns them as ``{relative path: text}``.
"""

from .config import MixinConfig, load_config
from .render import generate, main

__all__ = ["MixinConfig", "generate", "load_config", "main"]
