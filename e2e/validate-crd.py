#!/usr/bin/env python3
"""Validates a Kubernetes manifest against a CustomResourceDefinition, as the
API server would with strict field validation: the CRD's openAPIV3Schema
(jsonschema, with unknown fields refused and `format: byte` checked as
base64), apiVersion and kind, the object's name, and the CEL rules of the
shape `self.type == 'X' ? has(self.x) : !has(self.x)` that bpfman-operator
puts on each program. Any other CEL rule fails the check, so a new CRD
cannot pass unread.

usage: validate-crd.py CRD.yaml MANIFEST.(yaml|json)
"""
import base64
import re
import sys

import jsonschema
import yaml

CEL = re.compile(
    r"^has\(self\.type\) && self\.type == '(\w+)' \?\s*has\(self\.(\w+)\) : !has\(self\.\2\)$"
)
DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def strict(schema):
    """Refuse fields the schema does not name (the API server's strict mode)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)


def cel_rules(schema, path, out):
    """Every x-kubernetes-validations rule with the JSON path it applies to."""
    if isinstance(schema, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            out.append((path, rule["rule"]))
        for k, v in schema.get("properties", {}).items():
            cel_rules(v, path + [k], out)
        if "items" in schema:
            cel_rules(schema["items"], path + ["[]"], out)


def at(doc, path):
    """The values at `path` ("[]" for every item of a list)."""
    values = [doc]
    for p in path:
        nxt = []
        for v in values:
            if p == "[]":
                nxt.extend(v if isinstance(v, list) else [])
            elif isinstance(v, dict) and p in v:
                nxt.append(v[p])
        values = nxt
    return values


def main():
    crd = yaml.safe_load(open(sys.argv[1]))
    doc = yaml.safe_load(open(sys.argv[2]))
    version = crd["spec"]["versions"][0]
    errors = []
    want_api = f'{crd["spec"]["group"]}/{version["name"]}'
    if doc.get("apiVersion") != want_api:
        errors.append(f"apiVersion is {doc.get('apiVersion')!r}, not {want_api!r}")
    if doc.get("kind") != crd["spec"]["names"]["kind"]:
        errors.append(f"kind is {doc.get('kind')!r}, not {crd['spec']['names']['kind']!r}")
    name = doc.get("metadata", {}).get("name", "")
    if not DNS.match(name) or len(name) > 63:
        errors.append(f"metadata.name {name!r} is not a DNS label")
    if crd["spec"]["scope"] == "Namespaced" and not doc["metadata"].get("namespace"):
        errors.append("a namespaced resource without metadata.namespace")
    schema = version["schema"]["openAPIV3Schema"]
    rules = []
    cel_rules(schema, [], rules)
    strict(schema)
    checker = jsonschema.FormatChecker()

    @checker.checks("byte", raises=ValueError)
    def is_base64(value):
        # Not a string: the `type` keyword reports it.
        if isinstance(value, str):
            base64.b64decode(value, validate=True)
        return True

    validator = jsonschema.Draft7Validator(schema, format_checker=checker)
    for e in validator.iter_errors(doc):
        errors.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
    for path, rule in rules:
        m = CEL.match(rule)
        if not m:
            errors.append(f"unknown CEL rule at {'.'.join(path)}: {rule}")
            continue
        ty, field = m.groups()
        for obj in at(doc, path):
            if (obj.get("type") == ty) != (field in obj):
                errors.append(f"{'.'.join(path)}: {rule} fails for {obj.get('name')!r}")
    if errors:
        print("\n".join(errors))
        sys.exit(1)


main()
