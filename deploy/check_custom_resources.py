#!/usr/bin/env python3
"""Validates custom resources (e.g. the ModelExecutor examples) against their CRD's schema.

kubernetes-validate knows Kubernetes' built-in kinds only. For kinds defined by a
CustomResourceDefinition this script takes the openAPIV3Schema of the served version named by the
object's apiVersion and validates the object with `jsonschema`, the way the API server's strict
field validation would: unknown fields are errors (unless the schema says
x-kubernetes-preserve-unknown-fields), `nullable: true` admits null, x-kubernetes-int-or-string
admits both. It also checks that each CRD's schemas are valid JSON Schemas and that exactly one
version is the storage version.

Usage: python3 deploy/check_custom_resources.py --crd deploy/kubernetes/base/crd.yaml [RENDERED.yaml...]
Prints one line per object; exit status 1 if any object or CRD is invalid, 2 if a file has a
kind for which no CRD was given.
"""

from __future__ import annotations

import argparse
import copy
import sys

import jsonschema
import yaml


def to_json_schema(node):
    """Turns a Kubernetes structural OpenAPI v3 schema into a strict JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    out.pop("nullable", None)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    is_object = node.get("type") == "object" or "properties" in node
    if (is_object and "properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def load_crds(paths):
    schemas, problems = {}, []
    for path in paths:
        for crd in yaml.safe_load_all(open(path)):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            versions = spec.get("versions", [])
            storage = [v["name"] for v in versions if v.get("storage")]
            if len(storage) != 1:
                problems.append(f"CRD {crd['metadata']['name']}: {len(storage)} storage versions")
            for version in versions:
                raw = version.get("schema", {}).get("openAPIV3Schema")
                where = f"CRD {crd['metadata']['name']} {version['name']}"
                if raw is None:
                    problems.append(f"{where}: no openAPIV3Schema")
                    continue
                schema = to_json_schema(copy.deepcopy(raw))
                # apiVersion, kind and metadata are the API server's business.
                schema.setdefault("properties", {}).update(
                    {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                     "metadata": {"type": "object"}})
                try:
                    jsonschema.Draft7Validator.check_schema(schema)
                except jsonschema.SchemaError as error:
                    problems.append(f"{where}: invalid schema: {error.message}")
                    continue
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = (schema, version.get("served", False))
    return schemas, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crd", action="append", required=True, help="file with CustomResourceDefinitions")
    parser.add_argument("files", nargs="*", help="rendered manifests (multi-document YAML); none: check the CRDs only")
    args = parser.parse_args()
    schemas, problems = load_crds(args.crd)
    for problem in problems:
        print(f"FAIL {problem}")
    status = 1 if problems else 0
    checked = 0
    for path in args.files:
        for obj in yaml.safe_load_all(open(path)):
            if not obj:
                continue
            key = (obj.get("apiVersion"), obj.get("kind"))
            if key not in schemas:
                print(f"FAIL {path}: no CRD given for {key[1]} {key[0]}")
                status = max(status, 2)
                continue
            schema, served = schemas[key]
            name = f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
            if not served:
                errors = [f"version {key[0]} is not served"] + errors
            if errors:
                status = max(status, 1)
                for error in errors:
                    where = ".".join(str(p) for p in getattr(error, "path", [])) or "(root)"
                    print(f"FAIL {name}: {where}: {getattr(error, 'message', error)}")
            else:
                print(f"ok   {name} validates against its CRD")
            checked += 1
    if not args.files:
        if status == 0:
            print(f"ok   {len(schemas)} CRD version schema(s) valid")
        return status
    if checked == 0 and status == 0:
        print("FAIL no custom resource found")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
