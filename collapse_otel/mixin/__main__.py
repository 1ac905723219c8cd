"""``python -m collapse_otel.mixin``: write rules, alerts and dashboards."""

from .render import main

raise SystemExit(main())
