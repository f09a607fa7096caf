"""The README documents every setting the gateway reads."""

from __future__ import annotations

import re

from gateway.config import Settings
from tests.process import ROOT


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(r"^\| `((?:GATEWAY|OTEL)_[A-Z_]+)`", readme, flags=re.MULTILINE)) | set(
        re.findall(r"`(OTEL_[A-Z_]+)`", readme)
    )


def test_every_setting_has_a_row_in_the_readme_settings_table() -> None:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"GATEWAY_{name.upper()}")
    assert sorted(names - documented()) == []


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    names = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    gateway_rows = {name for name in documented() if name.startswith("GATEWAY_")}
    assert sorted(gateway_rows - names) == []
