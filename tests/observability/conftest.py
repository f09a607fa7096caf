"""Log capture through the production logging setup."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.logs import LIBRARY_LOGGERS, QUIET_LOGGERS, configure_logging


@dataclass
class Logs:
    stream: io.StringIO

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self, logger: str | None = None) -> list[dict[str, Any]]:
        entries = [json.loads(line) for line in self.text().splitlines()]
        return [entry for entry in entries if logger is None or entry["logger"] == logger]


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Every log record, as `python -m gateway serve` writes it, at debug level."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in (*QUIET_LOGGERS, *LIBRARY_LOGGERS)}
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        yield Logs(stream)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)
