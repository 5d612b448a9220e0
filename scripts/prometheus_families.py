#!/usr/bin/python3
"""Parses a Prometheus text exposition (stdin) with prometheus_client's own parser and prints
the families as JSON: {name: {"type": ..., "help": ..., "samples": [{"name", "labels", "value"}]}}.
Used by APOServerTests' /metrics test, so the scrape is checked by a real Prometheus parser.
Debian: python3-prometheus-client (deploy/install-deps.sh)."""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_families.py: the Python module prometheus_client is missing "
             "(apt-get install python3-prometheus-client, or deploy/install-deps.sh)")

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }
json.dump(families, sys.stdout, sort_keys=True)
