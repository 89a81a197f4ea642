"""Lists and counts the docs give, checked against the code and the template they describe: the tables
`clerk-sync dev` creates and a plain `clerk-sync dump` shows, the bundled samples, the table variables,
the alarms; and what `make test` installs where no container engine answers."""

from __future__ import annotations

import re
from pathlib import Path

from clerk_sync.settings import DEFAULT_TABLES, TABLE_VARIABLES
from clerk_sync_local.cli.dump import TABLES, render_text
from clerk_sync_local.cli.send import sample_types
from clerk_sync_local.sam_local.docker_engine import DOCKER_PACKAGES
from clerk_sync_local.stack.template import load_template, resources

ROOT = Path(__file__).resolve().parents[2]
LOCAL = (ROOT / "docs" / "local-development.md").read_text(encoding="utf-8")
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(text: str, start: str) -> str:
    """The rest of the fenced block in which `start` begins a line."""
    return text.split(f"\n{start}", 1)[1].split("\n```", 1)[0]


def section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_banner_shows_every_table_dev_creates():
    banner = block_after(LOCAL, "```text\n")
    created = re.findall(r"^  created table (\S+)$", banner, re.MULTILINE)
    [listed] = re.findall(r"^  Tables {10}(.+)$", banner, re.MULTILINE)
    names = [DEFAULT_TABLES[variable] for variable in TABLE_VARIABLES.values()]
    assert created == listed.split(", ") == names


def test_the_plain_dump_shows_every_synced_table_with_its_columns():
    shown = block_after(LOCAL, "$ clerk-sync dump\n")
    headings = re.findall(r"^(\w+) \(\d+\)\n(.+)$", shown, re.MULTILINE)
    assert [table for table, _ in headings] == list(TABLES)
    for table, header in headings:
        assert header.split() == render_text({table: []}).splitlines()[1].split(), table


def test_the_sample_list_is_every_bundled_sample():
    listed = re.findall(r"`(\w+\.\w+)`", section(LOCAL, "Sending events").split("\n\n")[1])
    assert listed == sample_types()


def test_the_settings_name_every_table_variable():
    settings = section(LOCAL, "Backends, state and settings")
    named = set(re.findall(r"`([A-Z_]+_TABLE)`", settings))
    assert named == set(TABLE_VARIABLES.values())


def test_the_alarm_count_table_and_cost_are_the_templates():
    alarms = sorted(resources(load_template(), "AWS::CloudWatch::Alarm"))
    [in_stack] = re.findall(r"`AlarmTopic` \+ (\d+) alarms", DEPLOYMENT)
    [(in_cost, price)] = re.findall(r"Fixed: (\d+) alarms \$(\d+\.\d\d)", DEPLOYMENT)
    assert int(in_stack) == int(in_cost) == len(alarms) and float(price) == len(alarms) * 0.10
    listed = re.findall(r"^\| `(\w+Alarm)` \|", DEPLOYMENT, re.MULTILINE)
    assert sorted(listed) == alarms


def test_the_readme_lists_one_kind_per_alarm():
    [kinds] = re.findall(r"alarms to\s+SNS \(([^)]+)\)", README)
    assert len(re.split(r",\s+", kinds)) == len(resources(load_template(), "AWS::CloudWatch::Alarm"))


def test_the_readme_says_what_make_test_installs_system_wide():
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    for package in (*DOCKER_PACKAGES, "debootstrap"):
        assert f"`{package}`" in setup
    assert "system-wide" in setup and "Debian" in setup and "root" in setup
