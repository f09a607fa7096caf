"""The README's settings table is rendered from `Settings`' field metadata, the same source
as ``python -m gateway serve --help``; these tests keep the three in step."""

from __future__ import annotations

import re
import subprocess
import sys

from gateway.config import Settings, documented
from tests.process import ROOT

HEADER = ["| variable | default | meaning |", "|---|---|---|"]


def expected_table() -> list[str]:
    return HEADER + [
        f"| `{setting.variable}` | {setting.default} | {setting.meaning} |"
        for setting in documented()
    ]


def readme_table() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADER[0])
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def test_the_readme_settings_table_is_the_one_settings_describes() -> None:
    # On a failure, the expected side is the table to paste into README.md.
    assert "\n".join(readme_table()) == "\n".join(expected_table())


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_serve_help_lists_every_setting_with_its_default_and_meaning() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--help"],
        cwd=ROOT,
        env={},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    help_text = result.stdout.split("settings (environment variables):\n", 1)[1]
    entries = re.findall(r"^  (\S+) \(default: (.+)\)\n((?:      .*\n?)+)", help_text, re.M)
    listed = [(name, default, " ".join(meaning.split())) for name, default, meaning in entries]
    assert listed == [
        (
            setting.variable,
            setting.default.replace("`", ""),
            " ".join(setting.meaning.replace("`", "").split()),
        )
        for setting in documented()
    ]
    assert "``" not in result.stdout
