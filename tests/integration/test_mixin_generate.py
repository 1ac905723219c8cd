"""The ops generator: committed files match it, user configs apply, the YAML it writes is YAML."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_otel.mixin import MixinConfig, generate, load_config, main
from collapse_otel.mixin.alerts import alerts_file
from collapse_otel.mixin.render import ALERTS_PATH, DASHBOARDS_DIR, RULES_PATH
from collapse_otel.mixin.rules import rules_file
from collapse_otel.mixin.yamlout import dump
from tests.support.waiting import run_watched

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "exporters" / "prometheus" / "runbook.md"
ALERT_NAMES = {"CollapseDuplicateAnswerSpike", "CollapseRepetitionHigh",
               "CollapseReleaseRegression", "CollapseTelemetryDropping",
               "CollapseFeedbackRegression", "CollapseHoldoutFailsWhileSyntheticImproves",
               "CollapseAgentLoopSpike"}


def _alerts(cfg: MixinConfig | None = None) -> list[dict]:
    return alerts_file(cfg or MixinConfig())["groups"][0]["rules"]


def test_committed_files_match_the_generator(tmp_path: Path) -> None:
    """Drift check: regenerate into a tmp dir with the CLI entry and compare byte for byte."""
    assert main(["--out", str(tmp_path)]) == 0
    generated = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert generated == set(generate())
    stale = []
    for rel in sorted(generated):
        committed = ROOT / rel
        if not committed.exists() or committed.read_bytes() != (tmp_path / rel).read_bytes():
            stale.append(rel)
    assert not stale, (f"generated files differ from the committed ones: {stale}; "
                       "run `python -m collapse_otel.mixin` and commit the result")
    committed_dashboards = {p.name for p in (ROOT / DASHBOARDS_DIR).glob("*.json")}
    assert committed_dashboards == {Path(r).name for r in generated if r.startswith(DASHBOARDS_DIR)}


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    proc = run_watched([sys.executable, "-m", "collapse_otel.mixin", "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / RULES_PATH).read_text() == generate()[RULES_PATH]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_user_config_file_drives_every_output(tmp_path: Path, suffix: str) -> None:
    overrides = {"job_selector": 'job="llm-agents", env="prod"',
                 "duplicate_min_increase": 0.15, "duplicate_for": "3m",
                 "duplicate_window": "10m", "duplicate_severity": "critical",
                 "runbook_url_pattern": "https://wiki.example/collapse#{anchor}",
                 "dashboard_uid_prefix": "mine"}
    cfg_file = tmp_path / f"ops{suffix}"
    cfg_file.write_text(yaml.safe_dump(overrides) if suffix == ".yaml" else json.dumps(overrides))
    out = tmp_path / "out"
    assert main(["--config", str(cfg_file), "--out", str(out)]) == 0

    alerts = yaml.safe_load((out / ALERTS_PATH).read_text())["groups"][0]["rules"]
    spike = next(a for a in alerts if a["alert"] == "CollapseDuplicateAnswerSpike")
    assert spike["for"] == "3m" and spike["labels"]["severity"] == "critical"
    assert ") >= 0.15" in spike["expr"] and "increase10m" in spike["expr"]
    assert spike["annotations"]["runbook_url"] == (
        "https://wiki.example/collapse#alert-name-collapseduplicateanswerspike")
    rules = (out / RULES_PATH).read_text()
    assert 'job="llm-agents", env="prod"' in rules and 'job="collapse-otel"' not in rules
    for path in (out / DASHBOARDS_DIR).glob("*.json"):
        model = json.loads(path.read_text())
        assert model["uid"].startswith("mine-")
        assert 'job="collapse-otel"' not in path.read_text()
        if path.name == "collapse-training-data.json":   # the Pushgateway: audit_job_selector
            assert 'job=\\"collapse-audit\\"' in path.read_text()
            continue
        assert 'job=\\"llm-agents\\", env=\\"prod\\"' in path.read_text()


def test_a_yaml_config_without_pyyaml_says_what_to_install(tmp_path: Path) -> None:
    """PyYAML comes with the serve extra only: without it, exit 2 and one line, no traceback
    (the import is made to fail as it does where PyYAML is not installed)."""
    import subprocess
    import sys

    cfg = tmp_path / "ops.yaml"
    cfg.write_text("verdict_min_families: 3\n")
    code = ("import sys; sys.modules['yaml'] = None; from collapse_otel.mixin import main; "
            f"sys.exit(main(['--config', {str(cfg)!r}, '--out', {str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "collapse-otel mixin: " in proc.stderr and "pip install pyyaml" in proc.stderr
    assert not (tmp_path / RULES_PATH).exists()


def test_malformed_yaml_is_one_line_and_status_2(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "ops.yaml"
    cfg.write_text("job_selector: [unclosed\n")
    assert main(["--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "ops.yaml: not valid YAML" in capsys.readouterr().err


def test_unknown_or_invalid_config_is_rejected(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"duplicate_treshold": 0.5}))
    assert main(["--config", str(bad), "--out", str(tmp_path)]) == 2
    assert "duplicate_treshold" in capsys.readouterr().err
    bad.write_text(json.dumps({"verdict_alpha": 1.5}))
    assert main(["--config", str(bad), "--out", str(tmp_path)]) == 2
    assert not (tmp_path / RULES_PATH).exists()
    with pytest.raises(ValueError):
        MixinConfig(runbook_url_pattern="https://no-placeholder/")


@pytest.mark.parametrize("overrides", [
    {"rate_window_short": "5 minutes"}, {"duplicate_for": "10"}, {"rule_interval": "fast"},
    {"duplicate_min_increase": "0.3"}, {"verdict_min_window_answers": 100.5},
    {"duplicate_z": True}, {"job_selector": None}])
def test_config_values_are_type_and_duration_checked(overrides: dict) -> None:
    with pytest.raises(ValueError):
        MixinConfig().with_overrides(overrides)


def test_integer_thresholds_are_accepted_as_floats() -> None:
    cfg = MixinConfig().with_overrides({"duplicate_z": 3, "rule_interval": "30s"})
    assert cfg.duplicate_z == 3.0 and isinstance(cfg.duplicate_z, float)
    assert ") >= 3\n" in generate(cfg)[ALERTS_PATH]   # the duplicate z bound, as written
    files = generate(cfg)
    assert "interval: 30s" in files[RULES_PATH] and "interval: 30s" in files[ALERTS_PATH]


def test_print_config_shows_the_effective_values(tmp_path: Path, capsys) -> None:
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"repetition_threshold": 0.4}))
    assert main(["--config", str(cfg_file), "--print-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["repetition_threshold"] == 0.4
    assert shown["verdict_alpha"] == MixinConfig().verdict_alpha
    assert load_config(None) == MixinConfig()


def test_every_alert_has_the_required_fields() -> None:
    alerts = _alerts()
    assert {a["alert"] for a in alerts} == ALERT_NAMES
    for alert in alerts:
        assert set(alert) == {"alert", "expr", "for", "labels", "annotations"}
        assert re.fullmatch(r"\d+[smhd]", alert["for"])
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}
        assert all(alert["annotations"].values())


def test_runbook_has_an_exact_anchor_and_section_per_alert() -> None:
    text = RUNBOOK.read_text()
    for alert in _alerts():
        name = alert["alert"]
        anchor = f"alert-name-{name.lower()}"
        assert alert["annotations"]["runbook_url"].endswith(f"runbook.md#{anchor}")
        # The explicit anchor sits right above the alert's own heading.
        assert re.search(rf'<a id="{anchor}"></a>\n## {name}\n', text), name
    assert "collapse_release_info" in text and "first seen" in text


def test_recording_rule_names_are_level_metric_operations() -> None:
    for rule in rules_file(MixinConfig())["groups"][0]["rules"]:
        level, metric, ops = rule["record"].split(":")
        assert re.fullmatch(r"[a-z_]+", level) and re.fullmatch(r"[a-z0-9_]+", ops)
        assert metric.startswith("collapse_"), rule["record"]


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.text(), st.text(alphabet="aYn0.1e:-#'\" \t\n_{}[],&*!|>%@`?~\\"),
              st.integers(), st.floats(allow_nan=False), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(min_size=1), inner, max_size=4)),
    max_leaves=12))
def test_yaml_writer_round_trips_through_a_real_yaml_parser(value) -> None:
    doc = {"root": value}
    assert yaml.safe_load(dump(doc)) == doc


def test_generated_rule_files_parse_back_to_the_generator_output() -> None:
    cfg = MixinConfig()
    files = generate(cfg)
    assert yaml.safe_load(files[RULES_PATH]) == rules_file(cfg)
    assert yaml.safe_load(files[ALERTS_PATH]) == alerts_file(cfg)
    # PromQL stays readable: multi-line expressions are block scalars, not escaped strings.
    assert "expr: |-" in files[RULES_PATH] and "\\n" not in files[RULES_PATH]
