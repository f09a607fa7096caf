"""`python -m gateway`: what an operator sees when starting it right or wrong."""

from __future__ import annotations

import hashlib
import socket
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


def test_export_schema_federation_prints_the_checked_in_subgraph_sdl() -> None:
    result = run("export-schema", "--federation")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "schema" / "subgraph.graphql").read_text()


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


def test_an_empty_tenants_file_variable_is_named_as_empty() -> None:
    result = run("serve", GATEWAY_TENANTS_FILE="", GATEWAY_DEMO="false")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "invalid settings: GATEWAY_TENANTS_FILE: is empty: give a file's path, "
        "or leave the variable unset"
    )


def test_a_standard_otel_variable_is_named_as_it_is_spelt() -> None:
    result = run("serve", OTEL_TRACES_EXPORTER="otlp,zipkin")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "invalid settings: OTEL_TRACES_EXPORTER: unknown exporter 'zipkin': give otlp, "
        "console, both comma-separated, or none"
    )


def test_a_taken_port_is_named_before_the_demo_banner_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", GATEWAY_PORT=str(port))
    assert result.returncode == 1
    assert result.stdout == ""
    # The last line: GraphiQL may have logged before that its files are not installed.
    assert result.stderr.strip().splitlines()[-1] == (
        f"cannot listen on 127.0.0.1 port {port}: another process is listening on it "
        "(choose another with GATEWAY_PORT)"
    )


def test_help_is_plain_text() -> None:
    for args in ((), ("serve",), ("simulate",)):
        result = run(*args, "--help")
        assert result.returncode == 0
        assert "``" not in result.stdout
        assert "`" not in result.stdout.split("settings (environment variables):")[0]
    assert run("--help").stdout.splitlines()[2] == (
        "The Telnyx messaging gateway: serve it, its Telnyx simulator, or its schema."
    )
