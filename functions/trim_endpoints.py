"""Build step: botocore's endpoints.json, cut down to the services the functions call.

botocore parses its endpoint data (1.25 MB of JSON for every AWS service) when a cold start creates
its first client: ≈20 ms of each function's init. Every partition keeps all its regions, defaults and
variants, and the entries of the services the functions call; only the others are dropped. The clients
the functions create resolve exactly as before: tests/unit/test_trim_endpoints.py compares every
region of every partition, with and without FIPS (today these services' URLs come from their rule
sets and partitions.json, which are left whole).

    python3.13 trim_endpoints.py ARTIFACTS_DIR

Standard library only: runs in `sam build` before anything is installed for the build's Python.
"""

from __future__ import annotations

import ast
import gzip
import json
import sys
from pathlib import Path
from typing import Any

SERVICES_SOURCE = Path(__file__).resolve().parent / "clerk_sync" / "aws_services.py"


def used_services(source: Path = SERVICES_SOURCE) -> tuple[str, ...]:
    """`SERVICES` from clerk_sync/aws_services.py, read as a literal (the package needs boto3)."""
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["SERVICES"]:
            return tuple(ast.literal_eval(node.value))
    raise SystemExit(f"no SERVICES = (...) in {source}")


def endpoint_prefix(botocore_data: Path, service: str) -> str:
    """The name endpoints.json knows a service by (SES v2's is "email"), from its newest model."""
    newest = max(path for path in (botocore_data / service).iterdir() if path.is_dir())
    plain, packed = newest / "service-2.json", newest / "service-2.json.gz"
    text = plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes())
    prefix: str = json.loads(text)["metadata"]["endpointPrefix"]
    return prefix


def trimmed(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """The same endpoint data with only the named services in each partition."""
    partitions = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def trim(artifact: Path, services: tuple[str, ...]) -> None:
    """Rewrite the artifact's botocore/data/endpoints.json in place."""
    data = artifact / "botocore" / "data"
    path = data / "endpoints.json"
    prefixes = {endpoint_prefix(data, service) for service in services}
    endpoints = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(trimmed(endpoints, prefixes), separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    trim(Path(sys.argv[1]), used_services())
