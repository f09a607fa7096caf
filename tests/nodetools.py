"""The Node tools under tests/node/ (the GraphQL-over-HTTP audit, a federation router and
subgraph, GraphiQL in headless Chromium), found or skipped.

They need Node 20 or later, `npm ci` done in tests/node (`make node-tools`, which `make test`
runs) and, for the browser, Chromium at /usr/bin/chromium. Where one is missing the tests
that need it skip, saying what is missing; CI sets ``GATEWAY_REQUIRE_NODE=1`` (`.ci/run`),
which turns the skip into a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

from tests.process import ROOT

TOOLS = ROOT / "tests" / "node"
WEB = ROOT / "web" / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
MINIMUM_NODE = 20


def _required() -> bool:
    return os.environ.get("GATEWAY_REQUIRE_NODE") == "1"  # noqa: TID251 -- a test switch, not a setting


def _unavailable(reason: str) -> NoReturn:
    if _required():
        pytest.fail(f"{reason}, and GATEWAY_REQUIRE_NODE=1")
    pytest.skip(reason)


@functools.cache
def _node_version(executable: str) -> int:
    out = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return int(out.strip().lstrip("v").split(".")[0])


def node() -> str:
    """The `node` executable, with the tools installed; else a skip (a failure in CI)."""
    found = shutil.which("node")
    if found is None:
        _unavailable("Node is not installed")
    if _node_version(found) < MINIMUM_NODE:
        _unavailable(f"Node {_node_version(found)} is older than {MINIMUM_NODE}")
    if not (TOOLS / "node_modules" / ".package-lock.json").is_file():
        _unavailable("tests/node/node_modules is missing: run `make node-tools`")
    return found


def chromium() -> Path:
    """Chromium for the browser tests; else a skip (a failure in CI)."""
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    return CHROMIUM


def web_assets() -> Path:
    """GraphiQL's installed files (`make web`); else a skip (a failure in CI)."""
    if not (WEB / ".package-lock.json").is_file():
        _unavailable("web/node_modules is missing: run `make web`")
    return WEB


def run(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one of the tools to its end; its output is text."""
    return subprocess.run(
        [node(), str(TOOLS / script), *args],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
