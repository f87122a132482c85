"""The example alert rules and Grafana dashboard in contrib/: valid for promtool, and every
metric they use is one modemd exports (a renamed metric breaks them here, not in production)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from modemd.observe.metrics import Metrics

CONTRIB = Path(__file__).parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "modemd-alerts.yml"
DASHBOARD = CONTRIB / "grafana" / "modemd-dashboard.json"
METRIC = re.compile(r"\bmodemd_[a-z_]+")


def exported() -> set[str]:
    """Every sample name the registry can produce (with _total, _bucket ... suffixes)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update({f"{family.name}{s}" for s in ("_total", "_bucket", "_count", "_sum")})
    return names


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    subprocess.run(["promtool", "check", "rules", str(RULES)], check=True, capture_output=True)
    subprocess.run(
        ["promtool", "test", "rules", "modemd-alerts.test.yml"],
        check=True,
        capture_output=True,
        cwd=RULES.parent,
    )
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert {
        "ModemdDeviceDown",
        "ModemdDeviceFailed",
        "ModemdQueueGrowing",
        "ModemdIpnDeadLetters",
        "ModemdDeliveryRatioFalling",
        "ModemdInboundStopped",
    } <= alerts


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    known = exported()
    rules = yaml.safe_load(RULES.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in METRIC.findall(e)}
    assert used and used <= known, used - known
    # The dashboard shows the core series.
    for wanted in ("modemd_queue_depth", "modemd_dispatch_seconds_bucket", "modemd_device_up"):
        assert wanted in used
    assert dashboard["uid"] == "modemd-overview" and len(dashboard["panels"]) >= 10
