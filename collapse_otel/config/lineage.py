"""Which release comes before which, and which one is the pinned baseline: configuration.

A process that serves only v5 cannot know that v4 came before: the deploy pipeline knows.
``previous_release`` names the release before this process's own (``release``);
``baseline_release`` a pinned reference (say a human-written ``human_holdout`` release) every
release is also compared with; ``release_order`` lists releases oldest first. Each accepts
``svc=value`` entries (comma-separated) to scope a value to one service. With nothing
configured, releases a process has seen follow each other in first-seen order, and a process
that has seen one release publishes no predecessor for it (no comparison can be made).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ANY = "*"


def parse_scoped(value: object) -> dict[str, str]:
    """``"v4"`` -> {"*": "v4"}; ``"rag=v4, faq=2024-06"`` -> per service; "" -> {}."""
    if not value:
        return {}
    if not isinstance(value, str):
        raise ValueError(f"expected a release name or svc=release entries, got {value!r}")
    out: dict[str, str] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        service, sep, release = part.partition("=")
        if sep:
            if not service.strip() or not release.strip():
                raise ValueError(f"bad entry {part!r}: expected svc=release")
            out[service.strip()] = release.strip()
        else:
            out[ANY] = part
    return out


def parse_order(value: object) -> dict[str, tuple[str, ...]]:
    """``"v1,v2,v3"`` or a sequence -> {"*": (...)}; ``"rag=v1|v2|v3"`` entries per service."""
    if not value:
        return {}
    if not isinstance(value, str):
        if not isinstance(value, Iterable):
            raise TypeError(f"not a sequence of releases: {value!r}")
        return {ANY: tuple(str(v) for v in value)}
    if "=" not in value:
        return {ANY: tuple(p.strip() for p in value.split(",") if p.strip())}
    return {svc: tuple(r for r in rel.split("|") if r)
            for svc, rel in parse_scoped(value).items()}


@dataclass(frozen=True)
class Lineage:
    own_release: str = ""
    previous: Mapping[str, str] = field(default_factory=dict)
    baseline: Mapping[str, str] = field(default_factory=dict)
    order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: object | None,
                    release_order: Iterable[str] | None = None) -> Lineage:
        """From a CollapseConfig (or None); an explicit ``release_order`` (the exporters'
        argument) wins over the configured one."""
        get = (lambda name, default: getattr(config, name, default)) if config is not None \
            else (lambda name, default: default)
        order = parse_order(get("release_order", ""))
        if release_order:
            order = {**order, ANY: tuple(release_order)}
        return cls(own_release=get("release", ""),
                   previous=parse_scoped(get("previous_release", "")),
                   baseline=parse_scoped(get("baseline_release", "")), order=order)

    @staticmethod
    def _scoped(mapping: Mapping, service: str):
        return mapping.get(service, mapping.get(ANY))

    def baseline_of(self, service: str, release: str) -> str:
        base = self._scoped(self.baseline, service) or ""
        return "" if base == release else base

    def ordered(self, service: str, seen: list[str]) -> list[tuple[str, str]]:
        """(release, previous release) for a service's releases, ``seen`` in first-seen
        order: the configured predecessor of the own release, else the release before it in
        the configured order, else the one seen before it; "" for none."""
        order = self._scoped(self.order, service) or ()
        rank = {r: i for i, r in enumerate(order)}
        releases = sorted(seen, key=lambda r: (rank.get(r, len(rank)), seen.index(r)))
        configured = self._scoped(self.previous, service)
        out = []
        for i, release in enumerate(releases):
            if configured and release == self.own_release:
                previous = configured
            elif release in rank and rank[release] > 0:
                previous = order[rank[release] - 1]
            else:
                previous = releases[i - 1] if i else ""
            out.append((release, "" if previous == release else previous))
        return out
