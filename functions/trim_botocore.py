"""Build step: the botocore data a cold start parses, cut down to what the functions use.

Creating the first clients of a cold start parses botocore's endpoint data and the services' models:
JSON written for every AWS service and for documentation, about 30 ms of each function's init.

- endpoints.json (1.25 MB, every service): each partition keeps all its regions, defaults and
  variants, and the entries of the services the functions call; the other services' entries go.
- The models of the services the functions call lose their documentation strings (≈75 % of their
  bytes), which botocore reads only to write docstrings. Shapes, operations and rules stay whole.

Nothing else changes: other services' models stay, for extensions that create their own clients.
tests/unit/test_trim_botocore.py checks that every client the functions create sends the same request,
to the same URL, signed the same way, in every region of every partition, and that every operation's
shapes are unchanged.

    python3.13 trim_botocore.py ARTIFACTS_DIR

Standard library only: runs in `sam build` with the build's Python, before anything is imported.
"""

from __future__ import annotations

import ast
import gzip
import json
import sys
from pathlib import Path
from typing import Any

SERVICES_SOURCE = Path(__file__).resolve().parent / "clerk_sync" / "adapters" / "aws_services.py"


def used_services(source: Path = SERVICES_SOURCE) -> tuple[str, ...]:
    """`SERVICES` from clerk_sync/adapters/aws_services.py, read as a literal (the package needs boto3)."""
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["SERVICES"]:
            return tuple(ast.literal_eval(node.value))
    raise SystemExit(f"no SERVICES = (...) in {source}")


def model_path(botocore_data: Path, service: str) -> Path:
    """The service model botocore loads: the newest API version's service-2.json(.gz)."""
    newest = max(path for path in (botocore_data / service).iterdir() if path.is_dir())
    plain = newest / "service-2.json"
    return plain if plain.exists() else newest / "service-2.json.gz"


def read_json(path: Path) -> Any:
    """A botocore data file, gzipped or not."""
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def write_json(path: Path, value: Any) -> None:
    """Write a botocore data file in the format its name says."""
    data = json.dumps(value, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def trimmed(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """The same endpoint data with only the named services in each partition."""
    partitions = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def undocumented(value: Any) -> Any:
    """A service model without its documentation strings. A member or shape that happens to be
    named "documentation" is a mapping, not a string, and stays."""
    if isinstance(value, dict):
        return {
            key: undocumented(item)
            for key, item in value.items()
            if not (key == "documentation" and isinstance(item, str))
        }
    if isinstance(value, list):
        return [undocumented(item) for item in value]
    return value


def trim(artifact: Path, services: tuple[str, ...]) -> None:
    """Rewrite the artifact's botocore data in place."""
    data = artifact / "botocore" / "data"
    if not (data / "endpoints.json").is_file():
        raise SystemExit(f"trim_botocore: {data}/endpoints.json not found (run it after pip install)")
    prefixes = set()
    for service in services:
        path = model_path(data, service)
        model = read_json(path)
        prefixes.add(model["metadata"]["endpointPrefix"])  # SES v2's is "email"
        write_json(path, undocumented(model))
    endpoints = data / "endpoints.json"
    write_json(endpoints, trimmed(read_json(endpoints), prefixes))


if __name__ == "__main__":
    trim(Path(sys.argv[1]), used_services())
