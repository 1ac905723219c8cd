"""The README, CONTRIBUTING.md and docs/ hold together: a short README, relative links and
#anchors that resolve, and an architecture map that names the package as it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "collapse_otel"
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text without fenced blocks and code spans, where brackets are code, not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats
    numbered; plus explicit <a id> / <a name> anchors."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _FENCE.sub("", text).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    out.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return out


def broken_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    bad = []
    for target in _LINK.findall(prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):      # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and \
                fragment not in anchors(dest.read_text(encoding="utf-8")):
            bad.append(f"{target}: no heading with that anchor")
    return bad


def test_links_and_anchors_resolve():
    bad = {page.relative_to(ROOT).as_posix(): b for page in PAGES if (b := broken_links(page))}
    assert bad == {}


def test_the_link_check_finds_broken_links(tmp_path):
    (tmp_path / "b.md").write_text("# Memory budget\n\n## Memory budget\n")
    page = tmp_path / "a.md"
    page.write_text("# Top\n[x](b.md#memory-budget) [y](b.md#memory-budget-1) [z](#top)\n"
                    "[bad](b.md#windows) [gone](c.md) `[code](c.md)` [web](https://x.org/c.md)\n"
                    "```\n[fenced](c.md)\n```\n")
    assert broken_links(page) == ["b.md#windows: no heading with that anchor",
                                  "c.md: no such file"]
    assert anchors("## Where `instrument()` publishes the metrics") == \
        {"where-instrument-publishes-the-metrics"}
    assert anchors("## The demo: `make demo` / `collapse-otel demo`") == \
        {"the-demo-make-demo--collapse-otel-demo"}


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES


def _map_block() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Architecture map", 1)[1]
    return re.search(r"```\n(collapse_otel/\n.*?)```", section, re.S).group(1)


def _mapped_names() -> set[str]:
    """The names in the map's first column: package entries (``text/``) and top-level modules
    (``config.py``), on the lines indented one step under ``collapse_otel/``."""
    names: set[str] = set()
    for line in _map_block().splitlines():
        m = re.match(r"  (\S.*?)(?: {2,}|$)", line)
        if m and not line.startswith("   "):
            names.update(n.strip() for n in m.group(1).split(","))
    return names


def test_the_architecture_map_names_every_package_and_top_level_module():
    actual = {p.name + "/" for p in PKG.iterdir() if (p / "__init__.py").exists()}
    actual |= {p.name for p in PKG.glob("*.py")}
    mapped = _mapped_names()
    assert sorted(actual - mapped) == [], "missing from the map in CONTRIBUTING.md"
    assert sorted(mapped - actual) == [], "named in the map but not in collapse_otel/"


def test_every_module_the_map_mentions_exists():
    """Modules named in descriptions (``batch.py``, ``names.py``) exist somewhere in the
    package."""
    files = {p.name for p in PKG.rglob("*.py")}
    mentioned = set(re.findall(r"\b(\w+\.py)\b", _map_block()))
    assert sorted(mentioned - files) == []
