"""docs/performance.md holds sections written by different tools; each rewrites only its own."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from clerk_sync_local.stack.template import TEMPLATE_PATH

REPORT = TEMPLATE_PATH.parent / "docs" / "performance.md"


def write_section(name: str, text: str, report: Path = REPORT) -> None:
    """Replace the text between `<!-- name -->` and `<!-- /name -->` (appended when missing),
    keeping every other section of the report as it is."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = report.read_text() if report.exists() else ""
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        updated = f"{before}{block}{after}"
    else:
        updated = f"{current.rstrip()}\n\n{block}\n" if current.strip() else f"{block}\n"
    report.parent.mkdir(exist_ok=True)
    report.write_text(updated)


def machine() -> str:
    """CPU, cores, memory, Python."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {system}"
