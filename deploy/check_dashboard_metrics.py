#!/usr/bin/env python3
"""Checks that every metric the Grafana dashboard and the alert rules query is one mulambda exports.

Metric names are taken from the PromQL of the dashboard's panels and template variables
(deploy/grafana/mulambda-dashboard.json) and of the alert rules (deploy/prometheus/alerts.yml).
Histogram series suffixes (_bucket, _sum, _count) are stripped.

A short list of other components' metrics (EXTERNAL, e.g. the API server's webhook metrics) may
be used by alerts. Exported names are the string literals starting with `mulambda_` in the Rust
sources of the
component that owns the prefix: mulambda_proxy_* in proxy/, mulambda_companion_* in companion/,
mulambda_controller_* in controller/. While a component's crate exports no metric at all (not
written yet), its names are taken from deploy/metrics-contract.txt with a loud warning; with
--strict (what CI runs once the crates have landed) that fallback is an error.

Usage: python3 deploy/check_dashboard_metrics.py [--strict]   (from anywhere)
Exit status 0 when every queried name is exported, 1 otherwise.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "mulambda-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
CONTRACT = ROOT / "deploy" / "metrics-contract.txt"
COMPONENTS = {  # metric prefix -> crate directory
    "mulambda_proxy_": "proxy",
    "mulambda_companion_": "companion",
    "mulambda_controller_": "controller",
}
# Metrics of other components that an alert may use, each with where it comes from. Every other
# queried name must be mulambda's own.
EXTERNAL = {
    "apiserver_admission_webhook_fail_open_count":
        "kube-apiserver (Kubernetes >= 1.24): webhook calls that failed and were ignored",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "atan2",
}
RUST_LITERAL = re.compile(r'"(mulambda_[a-z0-9_]+)"')


# --- PromQL -----------------------------------------------------------------------------------

def metric_names(expr: str) -> set[str]:
    """Returns the metric names an expression selects (a small tokenizer, not a full parser)."""
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", expr)                 # Grafana variables
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', " ", text)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)                          # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                         # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"(?<![\w:])[0-9][\w.]*", " ", text)              # numbers, durations
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        token = match.group(0)
        rest = text[match.end():].lstrip()
        if token.lower() in PROMQL_KEYWORDS or rest.startswith("("):
            continue  # keyword or function call
        names.add(token)
    return names


def template_metric_names(query: str) -> set[str]:
    """Metric names in a Grafana Prometheus variable query (label_values, query_result, metrics)."""
    match = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*[a-zA-Z_]\w*\s*\)\s*", query)
    if match:
        return metric_names(match.group(1))
    match = re.fullmatch(r"\s*query_result\((.*)\)\s*", query)
    if match:
        return metric_names(match.group(1))
    match = re.fullmatch(r"\s*label_names\(\s*\)\s*|\s*metrics\(.*\)\s*", query)
    if match:
        return set()
    return metric_names(query)


def dashboard_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, expr) for every panel target and every query variable, rows included."""
    found = []

    def walk(panels):
        for panel in panels or []:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f'panel "{panel.get("title")}" {target.get("refId")}', target["expr"]))
            walk(panel.get("panels"))

    walk(dashboard.get("panels"))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if query:
            found.append((f'variable "{variable.get("name")}"', "template:" + query))
    return found


def alert_queries(rules_file: dict) -> list[tuple[str, str]]:
    found = []
    for group in rules_file.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            found.append((f'rule "{name}"', rule["expr"]))
    return found


# --- exported names ---------------------------------------------------------------------------

def contract_names() -> set[str]:
    names = set()
    for line in CONTRACT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line.split()[0])
    return names


def exported_names(strict: bool) -> tuple[set[str], list[str]]:
    """Names exported by the code, per component; contract names where a crate exports none."""
    contract = contract_names()
    exported: set[str] = set()
    problems: list[str] = []
    for prefix, crate in COMPONENTS.items():
        found = set()
        for source in sorted((ROOT / crate).rglob("*.rs")):
            if "target" in source.relative_to(ROOT).parts:
                continue
            found.update(n for n in RUST_LITERAL.findall(source.read_text(errors="replace"))
                         if n.startswith(prefix))
        if found:
            exported |= found
            missing = sorted(n for n in contract if n.startswith(prefix) and n not in found)
            for name in missing:
                print(f"note: {name} is in deploy/metrics-contract.txt but not in {crate}/ (not exported?)")
            continue
        message = (f"{crate}/ exports no {prefix}* metric yet (no string literal in {crate}/**/*.rs)")
        if strict:
            problems.append(message + "; --strict forbids falling back to deploy/metrics-contract.txt")
        else:
            print("!" * 100)
            print(f"WARNING: {message}:")
            print(f"WARNING: checking {prefix}* names against deploy/metrics-contract.txt instead.")
            print("WARNING: CI must run this check with --strict once the crate has landed.")
            print("!" * 100)
            exported |= {n for n in contract if n.startswith(prefix)}
    return exported, problems


def is_exported(name: str, exported: set[str]) -> bool:
    if name in exported or name in EXTERNAL:
        return True
    return any(name.endswith(s) and name[: -len(s)] in exported for s in HISTOGRAM_SUFFIXES)


def main() -> int:
    strict = "--strict" in sys.argv[1:]
    exported, problems = exported_names(strict)
    queries = [(f"dashboard {w}", e) for w, e in dashboard_queries(json.loads(DASHBOARD.read_text()))]
    queries += [(f"alerts.yml {w}", e) for w, e in alert_queries(yaml.safe_load(ALERTS.read_text()))]
    if not queries:
        problems.append("no PromQL found in the dashboard or the alert rules")
    used = set()
    for where, expr in queries:
        names = (template_metric_names(expr[len("template:"):]) if expr.startswith("template:")
                 else metric_names(expr))
        if not names:
            problems.append(f"{where}: no metric name found in {expr!r}")
        for name in sorted(names):
            used.add(name)
            if not is_exported(name, exported):
                problems.append(f"{where}: metric {name!r} is not exported by mulambda")
    for name in sorted(used & EXTERNAL.keys()):
        print(f"note: {name} is not mulambda's: {EXTERNAL[name]}")
    unused = sorted(n for n in contract_names()
                    if not any(u == n or (u.endswith(HISTOGRAM_SUFFIXES) and u.rsplit("_", 1)[0] == n)
                               for u in used))
    if unused:
        print("note: contract metrics on no dashboard panel or alert: " + ", ".join(unused))
    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"{len(queries)} queries, {len(used)} metric names checked"
          f"{'' if problems else ', all exported'}{' (strict)' if strict else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
