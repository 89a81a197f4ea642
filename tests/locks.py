"""The project's locks, read for tests: uv.lock (the resolution) and its pip-format exports."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV_LOCK = ROOT / "uv.lock"
UV = ROOT / ".local" / "uv" / "bin" / "uv"


def normalized(name: str) -> str:
    """A distribution name as the locks and dist-info folders compare (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def locked_versions() -> dict[str, str]:
    """Every package uv.lock resolves, by normalized name (the workspace's own members included)."""
    packages = tomllib.loads(UV_LOCK.read_text(encoding="utf-8"))["package"]
    return {normalized(package["name"]): package["version"] for package in packages}


def locked_version(name: str) -> str:
    return locked_versions()[normalized(name)]


def exported_versions(path: Path) -> dict[str, str]:
    """The `name==version` pins of a pip-format lock (uv export, uv pip compile)."""
    pins = re.findall(r"^([A-Za-z0-9][\w.-]*)==([^\s;\\]+)", path.read_text(encoding="utf-8"), re.M)
    return {normalized(name): version for name, version in pins}
