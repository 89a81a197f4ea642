"""docs/performance.md: each tool rewrites its own section and keeps the rest."""

from benchmarks.report import write_section


def test_a_section_is_replaced_in_place_and_the_rest_is_kept(tmp_path):
    report = tmp_path / "performance.md"
    report.write_text("# Performance\n\n<!-- bench -->\nold\n<!-- /bench -->\n\n## Chaos\nby hand\n")
    write_section("bench", "new figures\n", report)
    assert (
        report.read_text()
        == "# Performance\n\n<!-- bench -->\nnew figures\n<!-- /bench -->\n\n## Chaos\nby hand\n"
    )


def test_a_missing_section_is_appended(tmp_path):
    report = tmp_path / "performance.md"
    report.write_text("# Performance\n\n<!-- bench -->\nb\n<!-- /bench -->\n")
    write_section("load", "l", report)
    write_section("load", "l2", report)
    assert (
        report.read_text()
        == "# Performance\n\n<!-- bench -->\nb\n<!-- /bench -->\n\n<!-- load -->\nl2\n<!-- /load -->\n"
    )


def test_a_new_report_holds_just_the_section(tmp_path):
    report = tmp_path / "docs" / "performance.md"
    write_section("load", "figures", report)
    assert report.read_text() == "<!-- load -->\nfigures\n<!-- /load -->\n"
