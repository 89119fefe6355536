"""The monitoring that ships (deploy/prometheus, deploy/grafana, the PodMonitor) is checked
against what the worker really exports: promtool checks and unit-tests the alert rules, and
every metric name in a rule or a dashboard query is one :class:`sync.metrics.Metrics` serves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sync.metrics import Metrics
from sync.observe import PageReport

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yaml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "accs-sync.json"
OPERATIONS = ROOT / "docs" / "operations.md"

#: PromQL words that are not metric names (aggregations, set operators, modifiers).
_KEYWORDS = frozenset(
    "sum min max avg count stddev stdvar topk bottomk quantile count_values group "
    "and or unless by without on ignoring group_left group_right bool offset inf nan".split()
)
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label lists and
    matchers, ranges, numbers and Grafana's ``$variables`` left out)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _LABEL_LISTS.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def exported_names() -> set[str]:
    """Every sample name a fed Metrics serves (counters' ``_total``, histograms' buckets)."""
    metrics = Metrics(stores=["default"], now=lambda: 2_000_000_000.0)
    metrics.run_started(1, "sync")
    for resource in ("products", "categories"):
        metrics.store_started("default", "full", resource)
        metrics.page_written(
            "default", PageReport(items=3, inserted=1, unchanged=1, rejected=1, resource=resource)
        )
        metrics.resource_finished(resource, "default")
    metrics.store_finished("default", "2026-01-01 00:00:00")
    metrics.request(200, 0.1)
    metrics.retry("rate_limited")
    for event in ("token_mints", "token_mint_failures", "auth_retries", "secret_fallbacks"):
        metrics.auth(event)
    metrics.run_finished(1, "sync", "success", 1.0)
    text = generate_latest(metrics.registry).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[str]:
    """Every ``expr`` of the dashboard (panel targets, template variable queries)."""
    yield from _exprs(json.loads(DASHBOARD.read_text()))


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and "query" in value:
                # A variable's label_values(SELECTOR, label): the selector is the query.
                found = re.fullmatch(r"label_values\((.*),\s*\w+\)", str(value["query"]))
                assert found, value
                yield found.group(1)
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


# -- the name parser itself ----------------------------------------------------------------------


def test_metric_names_are_found_and_everything_else_is_not() -> None:
    expr = (
        'sum without (kind, outcome) (increase(accs_sync_runs_total{outcome=~"failed|x"}[1h]))'
        " == 0 and on(instance) accs_sync_run_in_progress == 0 or absent(accs_sync_info)"
        ' or label_replace(accs_sync_nope_total{store="$store"}, "a", "$1", "b", "(.*)")'
        " / ignoring(le) histogram_quantile(0.9, rate(x_bucket[$__rate_interval])) > 1e3"
    )
    assert metric_names(expr) == {
        "accs_sync_runs_total",
        "accs_sync_run_in_progress",
        "accs_sync_info",
        "accs_sync_nope_total",
        "x_bucket",
    }


def test_the_exported_names_include_what_only_events_create() -> None:
    names = exported_names()
    assert "accs_sync_resource_last_success_timestamp_seconds" in names
    assert "accs_sync_token_mint_failures_total" in names
    assert "accs_sync_api_request_duration_seconds_bucket" in names


# -- alert rules ----------------------------------------------------------------------------------


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs it (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    tool = promtool()
    for args in (["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]):
        result = subprocess.run(
            [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_a_severity_and_a_runbook_section() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # a test that sees it fire
    }
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {rule["alert"] for rule in alerts} >= {
        "AccsSyncRunFailed",
        "AccsSyncRunPartial",
        "AccsSyncStale",
        "AccsSyncStalled",
        "AccsSyncRateLimited",
        "AccsSyncTokenMintFailing",
        "AccsSyncRejectsGrowing",
    }
    for rule in alerts:
        name = rule["alert"]
        assert name in tested, f"{name} has no promtool test that sees it fire"
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md", name
        assert anchor == name.lower() and anchor in headings, name


def test_the_rules_use_only_metrics_the_worker_exports() -> None:
    exported = exported_names()
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["expr"]
        assert names <= exported, (rule.get("alert"), names - exported)


def test_the_failed_and_partial_alerts_cover_every_unhappy_outcome() -> None:
    """The README's expressions once skipped ``partial``: a refused resource went unnoticed."""
    watched = set()
    for rule in rules():
        watched |= set(re.findall(r'outcome="(\w+)"', rule["expr"]))
    assert watched >= {"failed", "partial"}


# -- the dashboard --------------------------------------------------------------------------------


def test_every_dashboard_query_names_only_exported_metrics() -> None:
    exported = exported_names()
    exprs = list(dashboard_exprs())
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, names - exported)
        used |= names
    # What an operator looks at first is there.
    for name in (
        "accs_sync_runs_total",
        "accs_sync_resource_last_success_timestamp_seconds",
        "accs_sync_watermark_lag_seconds",
        "accs_sync_api_requests_total",
        "accs_sync_retries_total",
        "accs_sync_token_mints_total",
        "accs_sync_products_rejected_total",
    ):
        assert name in used, name


def test_the_dashboard_is_importable_grafana_json() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"]
    assert board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
    [variable] = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"


# -- the PodMonitor -------------------------------------------------------------------------------


def test_the_podmonitor_scrapes_the_daemons_metrics_port() -> None:
    """No CRD schema to validate against: it parses, and it names what daemon.yaml has."""
    from tests.integration.test_deploy import manifest, pod_spec

    [monitor] = [d for d in yaml.safe_load_all((PROMETHEUS / "podmonitor.yaml").read_text()) if d]
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    deployment = manifest("Deployment", "accs-sync-daemon")
    template = deployment["spec"]["template"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    [container] = pod_spec(deployment)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert str(ports[endpoint["port"]]) == template["metadata"]["annotations"]["prometheus.io/port"]
    assert endpoint["path"] == template["metadata"]["annotations"]["prometheus.io/path"]
    # Scraped well within the interval (the health server answers in milliseconds).
    seconds = {key: int(endpoint[key].removesuffix("s")) for key in ("interval", "scrapeTimeout")}
    assert seconds["scrapeTimeout"] < seconds["interval"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables filled in) as a recording rule."""
    tool = promtool()
    fill = {"$__rate_interval": "5m", "$__range": "1d", "$job": ".*", "$instance": ".*"}
    queries = []
    for expr in dashboard_exprs():
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        queries.append(expr)
    group = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(queries)],
    }
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
