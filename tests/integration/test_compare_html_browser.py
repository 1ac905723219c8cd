"""The HTML report of ``collapse-otel compare`` in a real headless Chromium (Debian
``chromium``, installed by .ci/run): it renders without console errors, loads nothing from
outside, every plot has a size on screen, and the screenshot is not blank."""

from __future__ import annotations

import io
import json

import pytest

from collapse_otel.cli import main
from collapse_otel.compare.svg import VERDICT_COLOURS
from collapse_otel.signals.registry import SIGNALS
from tests.support.compare_data import make_files
from tests.support.headless import Browser
from tests.support.requires import require_binary, require_module

PLOTS = """JSON.stringify([...document.querySelectorAll('svg.plot')].map(s => {
  const r = s.getBoundingClientRect(); return [r.width, r.height, s.querySelectorAll('*').length];
}))"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    chromium = require_binary("chromium", "chromium")
    folder = tmp_path_factory.mktemp("html")
    files = make_files(folder)
    html = folder / "report.html"
    code = main(["compare", str(files["cohorts_base.jsonl"]), str(files["cohorts_cand.jsonl"]),
                 "--permutations", "50", "--quiet", "--html", str(html)])
    assert code == 1
    with Browser(chromium) as browser:
        yield browser.open(html), html


def test_report_renders_without_errors_or_outside_requests(page):
    p, html = page
    assert p.errors() == []
    assert p.evaluate("document.title").startswith("collapse-otel compare:")
    resources = p.evaluate("JSON.stringify(performance.getEntriesByType('resource')"
                           ".map(e => e.name))")
    assert json.loads(resources) == []
    assert "<script" not in html.read_text()


def test_every_plot_is_visible(page):
    p, _ = page
    boxes = json.loads(p.evaluate(PLOTS))
    sections = 3          # all answers, human_holdout, synthetic
    expected = sections * (2 * len(SIGNALS) + 1) + 1   # values + change, lengths; the grid
    assert len(boxes) == expected
    assert all(w > 0 and h > 0 and children > 0 for w, h, children in boxes), boxes


def test_screenshot_is_not_blank(page):
    image_module = require_module("PIL.Image")
    p, _ = page
    image = image_module.open(io.BytesIO(p.screenshot())).convert("RGB")
    width, height = image.size
    assert width >= 1000 and height > 2000   # the whole page, cohorts included
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    white = sum(n for n, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.97 * width * height
    present = {rgb for _, rgb in colours}
    for verdict in ("degraded", "improved"):   # the coloured plots reached the screen
        hex_colour = VERDICT_COLOURS[verdict].lstrip("#")
        assert tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)) in present, verdict


AXES = """JSON.stringify([...document.querySelectorAll('svg.plot')]
  .filter(s => s.getAttribute('aria-label').endsWith(': baseline and candidate with 95% intervals'))
  .map(s => [s.getAttribute('aria-label').split(': baseline')[0],
             [...s.querySelectorAll('text')].filter(t => t.getAttribute('y') === '45.0')
               .map(t => t.textContent)]))"""


def test_value_axes_on_screen_never_show_an_impossible_value(page):
    """Shares, Self-BLEU, counts: an interval near 0 is cut at 0, never drawn below it."""
    p, _ = page
    by_title = {s.title: s for s in SIGNALS}
    axes = json.loads(p.evaluate(AXES))
    assert len(axes) == 3 * len(SIGNALS)
    ticks = [(title, float(v.replace(",", ""))) for title, labels in axes for v in labels]
    assert len(ticks) > 40
    for title, tick in ticks:
        s = by_title[title]
        assert tick >= s.lowest, (title, tick)
        assert s.highest is None or tick <= s.highest, (title, tick)
