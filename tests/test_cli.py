"""`python -m gateway`: what an operator sees when starting it right or wrong."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.process import ROOT


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env={"OTEL_SDK_DISABLED": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_new_token_prints_a_token_and_its_sha256() -> None:
    result = run("new-token")
    lines = result.stdout.splitlines()
    token = lines[0].removeprefix("token:").strip()
    digest = lines[1].removeprefix("token_sha256:").strip()
    assert result.returncode == 0
    assert len(token) >= 40
    assert digest == hashlib.sha256(token.encode()).hexdigest()


def test_export_schema_prints_the_checked_in_sdl() -> None:
    result = run("export-schema")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "schema" / "schema.graphql").read_text()


def test_an_invalid_setting_is_named_and_stops_start_up() -> None:
    result = run("serve", GATEWAY_PORT="eighty")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "invalid settings: GATEWAY_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_a_bad_tenants_file_is_named_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        '{"tenants": [{"id": "acme", "token_sha256": "00", "telnyx_api_key": "KEYsecret"}]}'
    )
    result = run("serve", GATEWAY_TENANTS_FILE=str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"invalid tenants file {path}: tenants.0.token_sha256:" in result.stderr
    assert "KEYsecret" not in result.stderr


def test_production_without_a_tenants_file_refuses_to_start() -> None:
    result = run("serve", GATEWAY_DEMO="false")
    assert result.returncode == 1
    assert "GATEWAY_TENANTS_FILE is required when GATEWAY_DEMO is false" in result.stderr
