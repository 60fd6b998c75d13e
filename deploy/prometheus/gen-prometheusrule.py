#!/usr/bin/env python3
"""Writes (or, with --check, verifies) the PrometheusRule that carries deploy/prometheus/alerts.yml.

The alert rules live in one file, alerts.yml, checked by promtool. Clusters that run the
Prometheus Operator load rules from PrometheusRule resources instead; this script wraps the same
groups into deploy/kubernetes/components/prometheus-operator/prometheusrule.yaml so that the two
never drift (deploy/validate.sh runs it with --check).

Usage: python3 deploy/prometheus/gen-prometheusrule.py [--check]
"""

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "alerts.yml"
TARGET = HERE.parent / "kubernetes" / "components" / "prometheus-operator" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml by deploy/prometheus/gen-prometheusrule.py.
# Do not edit: change alerts.yml and run the script (deploy/validate.sh checks they agree).
"""


def render() -> str:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "mulambda",
            "namespace": "mulambda-system",
            "labels": {
                "app.kubernetes.io/name": "mulambda",
                "app.kubernetes.io/part-of": "mulambda",
            },
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.safe_dump(resource, sort_keys=False, width=100, allow_unicode=True)


def main() -> int:
    wanted = render()
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != wanted:
            print(f"{TARGET} is out of date: run python3 deploy/prometheus/gen-prometheusrule.py")
            return 1
        print(f"{TARGET.name} matches alerts.yml")
        return 0
    TARGET.write_text(wanted)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
