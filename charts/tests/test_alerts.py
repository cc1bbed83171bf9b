"""The alert rules the chart ships (prometheus.ruleGroups): valid for promtool, unit-tested on sample series
(charts/tests/alerts/*.yaml: a firing and a non-firing case per alert), written against metrics the components
export, and rendered both into the bundled Prometheus' rules.yml and, on prometheus-operator clusters, into a
PrometheusRule holding the same groups."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.tests import observability as obs
from charts.tests.conftest import CHART, Helm
from charts.tests.manifests import find, one

TESTS_DIR = Path(__file__).parent / "alerts"
RULE_API = "monitoring.coreos.com/v1/PrometheusRule"
EXPECTED_ALERTS = {
    "ModelshipModelServerDown",
    "ModelshipGatewayHighErrorRate",
    "ModelshipGatewayHighLatency",
    "ModelshipStreamingConsumerLag",
    "ModelshipStreamingDeadLetters",
    "ModelshipRolloutFailed",
    "ModelshipRolloutRolledBack",
    "ModelshipRegistrySyncStale",
}


def rules_yml(objs: list[dict[str, Any]]) -> str:
    return str(one(objs, "ConfigMap", "r-prometheus")["data"]["rules.yml"])


def alerts_of(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


@pytest.fixture(scope="module")
def rules_file(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default chart's rules.yml, as the bundled Prometheus loads it, with copies of the test files."""
    out = tmp_path_factory.mktemp("alerts")
    (out / "rules.yml").write_text(rules_yml(helm.render()))
    for test in TESTS_DIR.glob("*.yaml"):
        shutil.copy(test, out / test.name)
    return out / "rules.yml"


def test_the_default_rules_hold_the_modelship_alerts(rules_file: Path) -> None:
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    alerts = alerts_of(groups)
    assert set(alerts) == EXPECTED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert "for" in rule, name


def test_promtool_check_rules(rules_file: Path) -> None:
    done = obs.run_promtool("check", "rules", str(rules_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in done.stdout, done.stdout


def test_promtool_test_rules(rules_file: Path) -> None:
    tests = sorted(rules_file.parent.glob("*.yaml"))
    assert tests, f"no promtool test files in {TESTS_DIR}"
    done = obs.run_promtool("test", "rules", *map(str, tests))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_non_firing_case(rules_file: Path) -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS_DIR.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        assert spec["rule_files"] == ["rules.yml"], path
        for group in spec["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(alerts_of(yaml.safe_load(rules_file.read_text())["groups"]))
    assert alerts - firing == set(), "alerts without a firing case"
    assert alerts - quiet == set(), "alerts without a non-firing case"
    assert (firing | quiet) - alerts == set(), "test cases of alerts the chart does not ship"


def test_alerts_query_only_exported_metrics(rules_file: Path) -> None:
    known = set().union(*obs.exported().values())
    bad = {
        name: obs.unknown(obs.metric_names(rule["expr"]), known)
        for name, rule in alerts_of(yaml.safe_load(rules_file.read_text())["groups"]).items()
    }
    assert {k: v for k, v in bad.items() if v} == {}
    assert all(
        obs.metric_names(rule["expr"]) for rule in alerts_of(yaml.safe_load(rules_file.read_text())["groups"]).values()
    )


def test_prometheus_rule_only_with_the_operator_api_and_the_same_groups(helm: Helm) -> None:
    values = CHART / "ci" / "default-values.yaml"
    assert not find(helm.render(values), "PrometheusRule")
    objs = helm.render(values, api_versions=(RULE_API,))
    rule = one(objs, "PrometheusRule", "r-prometheus")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "ns"
    assert rule["spec"]["groups"] == yaml.safe_load(rules_yml(objs))["groups"]
    assert set(alerts_of(rule["spec"]["groups"])) == EXPECTED_ALERTS
    labelled = helm.render(values, api_versions=(RULE_API,), sets=("prometheus.prometheusRule.labels.release=kps",))
    assert one(labelled, "PrometheusRule", "r-prometheus")["metadata"]["labels"]["release"] == "kps"
    off = helm.render(values, api_versions=(RULE_API,), sets=("prometheus.prometheusRule.enabled=false",))
    assert not find(off, "PrometheusRule")


def test_empty_rule_groups_render_an_empty_rule_file_and_no_prometheus_rule(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "no-rules.yaml"
    values.write_text("prometheus:\n  ruleGroups: []\n")
    objs = helm.render(values, api_versions=(RULE_API,))
    assert yaml.safe_load(rules_yml(objs)) == {"groups": []}
    assert not find(objs, "PrometheusRule")
    (tmp_path / "rules.yml").write_text(rules_yml(objs))
    done = obs.run_promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_rule_without_expr_is_refused_by_the_schema(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "bad-rules.yaml"
    values.write_text(
        "prometheus:\n  ruleGroups:\n    - name: g\n      rules:\n        - alert: A\n          for: 5m\n"
    )
    done = helm.template(values, check=False)
    assert done.returncode != 0 and "expr" in done.stderr, done.stderr


def test_model_server_pod_monitor_copies_the_label_the_down_alert_selects(helm: Helm) -> None:
    """On a prometheus-operator Prometheus the model servers' `up` carries app_kubernetes_io_component too."""
    objs = helm.render(CHART / "ci" / "default-values.yaml", api_versions=("monitoring.coreos.com/v1/PodMonitor",))
    monitor = one(objs, "PodMonitor", "r-model-servers")
    assert "app.kubernetes.io/component" in monitor["spec"]["podTargetLabels"]
    down = alerts_of(yaml.safe_load(rules_yml(objs))["groups"])["ModelshipModelServerDown"]
    assert 'app_kubernetes_io_component="predictor"' in down["expr"]
