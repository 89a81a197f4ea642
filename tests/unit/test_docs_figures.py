"""The figures `make bench` measures are written in one place, docs/performance.md between its
`<!-- bench -->` markers; README.md and docs/deployment.md link there instead of restating them (a
restated figure goes stale at the next run)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
OTHERS = (DOCS.parent / "README.md", DOCS / "deployment.md")


def bench_section() -> str:
    report = (DOCS / "performance.md").read_text(encoding="utf-8")
    return report.split("<!-- bench -->", 1)[1].split("<!-- /bench -->", 1)[0]


def table_rows(section: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under a heading starting with `heading`, as cells."""
    text = section.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]


def measured_figures() -> set[str]:
    """Package sizes, cost totals, cold-import medians and ratios, peak memory."""
    section = bench_section()
    figures = {cell for row in table_rows(section, "Package") for cell in row[1:]}
    # (an unknown type costs just the list prices, $0.20 per million requests: not a measurement)
    costs = [row for row in table_rows(section, "Cost per million") if row[0] != "unknown type"]
    figures |= {cell for row in costs for cell in row[-2:]}
    figures |= {cell for row in table_rows(section, "Cold import") for cell in row[1:3]}
    figures |= set(re.findall(r"1,000 deliveries: (\d+ MB)", section))
    return {figure for figure in figures if re.search(r"\d", figure) and figure != "1.00"}


def test_the_bench_report_has_the_figures():
    figures = measured_figures()
    assert any(figure.endswith(" MB") for figure in figures) and any(f.startswith("$") for f in figures)


def restates(text: str, figure: str) -> bool:
    """Whether the text quotes the figure as the same quantity: a ratio as a ratio (not a time or a
    size that happens to read the same), a package size where an artifact is named."""
    pattern = rf"(?<![\d.]){re.escape(figure)}(?![\d])"
    if not re.search(r"[A-Za-z$]", figure):  # a ratio: not a time, a size, a share or a price
        pattern = r"(?<!\$)" + pattern + r"(?!\s*(?:s|ms|MB|%)\b)"
    lines = [line for line in text.splitlines() if re.search(pattern, line)]
    if figure.endswith(" MB"):
        lines = [line for line in lines if "Function" in line or "artifact" in line.lower()]
    return bool(lines)


def test_a_figure_counts_as_restated_only_as_the_same_quantity():
    assert restates("cold import 0.37 × the naive set", "0.37")
    assert not restates("Fixed: 13 alarms $1.30 a month", "1.30")
    assert not restates("| `clerk_sync.handlers.webhook` | 0.90 s | **0.37 s** |", "0.37")
    assert restates("| WebhookFunction | 32.4 MB | 21.1 MB |", "21.1 MB")
    assert not restates("| of which botocore | 21.2 MB | 16.8 MB |", "21.2 MB")


def test_readme_and_deployment_link_the_figures_instead_of_restating_them():
    figures = measured_figures()
    for path in OTHERS:
        text = path.read_text(encoding="utf-8")
        restated = sorted(f for f in figures if restates(text, f))
        assert restated == [], f"{path.name} restates {restated}: link docs/performance.md instead"
        assert "performance.md" in text
