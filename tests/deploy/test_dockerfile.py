"""The image (deploy/Dockerfile) against the Makefile, the README and Settings."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys

import pytest

from gateway.app import create_app
from gateway.config import Settings
from tests.deploy.support import (
    DOCKERFILE,
    IMAGE_VARIABLES,
    REPO,
    Instruction,
    dockerfile,
    readme_commands,
    unknown_variables,
)
from tests.server import serve

DEFAULT_PORT = Settings.model_fields["port"].default


def _final(keyword: str) -> list[Instruction]:
    instructions = dockerfile()
    last_stage = instructions[-1].stage
    return [i for i in instructions if i.keyword == keyword and i.stage == last_stage]


def _env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        for word in instruction.words():
            name, _, value = word.partition("=")
            env[name] = value
    return env


def test_builds_in_a_builder_stage_and_runs_from_a_slim_one_pinned_by_digest() -> None:
    images = [i.words() for i in dockerfile() if i.keyword == "FROM"]
    # The first stage installs GraphiQL's files with npm (the final one copies none of it).
    assert [words[1:] for words in images] == [["AS", "web"], ["AS", "builder"], []]
    # A tag moves; a digest names exactly one image (deploy/README.md says how to update it).
    digests = [
        re.fullmatch(r"python:3\.11-slim@sha256:([0-9a-f]{64})", words[0]) for words in images
    ]
    assert all(digests), images
    assert len({match.group(1) for match in digests if match}) == 1


def test_no_parser_directive_sends_the_build_to_the_network() -> None:
    # A "# syntax=" line makes BuildKit pull a frontend image before anything else.
    directives = [
        line
        for line in DOCKERFILE.read_text().splitlines()
        if re.match(r"#\s*syntax\s*=", line, flags=re.IGNORECASE)
    ]
    assert directives == []
    assert [i.words() for i in _final("COPY")] == [
        ["--from=builder", "/opt/venv", "/opt/venv"],
        ["--from=builder", "/app", "/app"],
    ]


def _makefile_runtime_install() -> list[str]:
    """The options of the Makefile's runtime `pip install` (the one `make run` uses)."""
    lines = [
        line.strip()
        for line in (REPO / "Makefile").read_text().splitlines()
        if "pip install" in line and "requirements.lock" in line
    ]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0])
    return words[words.index("install") + 1 :]


def test_installs_the_lock_file_with_hashes_as_the_makefile_does() -> None:
    instructions = dockerfile()
    installs = [
        i.words()
        for i in instructions
        if i.keyword == "RUN" and "install" in i.words() and "pip" in i.words()
    ]
    assert len(installs) == 1, installs
    words = installs[0]
    assert words[:4] == ["/opt/venv/bin/python", "-m", "pip", "install"]
    options = words[4:]
    # The lock file is copied in under another path; map it back to the repository's.
    copies = {i.words()[-1]: i.words()[0] for i in instructions if i.keyword == "COPY"}
    requirement = options.index("-r") + 1
    options[requirement] = copies[options[requirement]]
    assert (
        options
        == _makefile_runtime_install()
        == [
            "--quiet",
            "--require-hashes",
            "-r",
            "requirements.lock",
        ]
    )


def test_copies_the_lock_files_and_the_two_packages_only() -> None:
    sources = [
        source
        for i in dockerfile()
        if i.keyword == "COPY" and not i.arguments.startswith("--from")
        for source in i.words()[:-1]
    ]
    assert sources == [
        "web/package.json",
        "web/package-lock.json",
        "requirements.lock",
        "gateway/",
        "schema/",
    ]


def test_dockerignore_keeps_the_sources_and_drops_the_local_state() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.removeprefix("**/"))
            for pattern in patterns
        )

    assert [path for path in ("requirements.lock", "gateway", "schema") if ignored(path)] == []
    assert [path for path in (".git", ".venv", "tests", "__pycache__") if not ignored(path)] == []


def test_runs_as_a_numeric_non_root_user() -> None:
    users = [i.arguments for i in _final("USER")]
    assert users == ["10001"]


def test_listens_on_all_interfaces_on_the_settings_default_ports() -> None:
    metrics_port = Settings.model_fields["metrics_port"].default
    assert [i.words() for i in _final("EXPOSE")] == [[str(DEFAULT_PORT), str(metrics_port)]]
    env = _env(_final("ENV"))
    assert env["GATEWAY_HOST"] == "0.0.0.0"  # noqa: S104  -- a container must listen on all
    assert env["PATH"] == "/opt/venv/bin:$PATH"


def test_sets_only_variables_something_reads() -> None:
    names = set(_env([i for i in dockerfile() if i.keyword == "ENV"]))
    assert unknown_variables(names) == []
    assert [
        name
        for name in sorted(names)
        if not name.startswith(("GATEWAY_", "OTEL_")) and name not in IMAGE_VARIABLES
    ] == []


def test_command_is_the_serve_command_the_readme_documents() -> None:
    (cmd,) = _final("CMD")
    assert cmd.exec_form() == ["python", "-m", "gateway", "serve"]
    assert " ".join(cmd.exec_form()) in readme_commands(REPO / "README.md")
    assert _final("ENTRYPOINT") == []
    assert [i.arguments for i in _final("STOPSIGNAL")] == ["SIGTERM"]


def _healthcheck() -> list[str]:
    (healthcheck,) = _final("HEALTHCHECK")
    command = healthcheck.exec_form()
    assert command[:2] == ["python", "-c"]
    return command


def test_healthcheck_asks_healthz_on_the_exposed_port() -> None:
    code = _healthcheck()[2]
    assert f"'http://127.0.0.1:{DEFAULT_PORT}/healthz'" in code


@pytest.mark.slow
def test_healthcheck_command_passes_against_a_serving_gateway_and_fails_without_one() -> None:
    code = _healthcheck()[2]
    settings = Settings(demo=True, otel_sdk_disabled=True)
    with serve(create_app(settings)) as url:
        live = code.replace(f"http://127.0.0.1:{DEFAULT_PORT}", url)
        # The code is the Dockerfile's own HEALTHCHECK, which this test exists to run.
        passed = subprocess.run([sys.executable, "-c", live], capture_output=True, timeout=10)
    assert passed.returncode == 0, passed.stderr
    # The server is gone: the same command must now fail, or Docker would never see a dead one.
    failed = subprocess.run([sys.executable, "-c", live], capture_output=True, timeout=10)
    assert failed.returncode == 1
