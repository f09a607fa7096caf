"""The gateway's logs: JSON lines that carry trace ids, with libraries' credentials redacted.

`configure_logging` is called once, by the CLI; tests call it with their own stream.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import IO

from opentelemetry import trace

from gateway.telemetry import REDACTED


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the active span's trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error.type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


# These log every upstream request's URL at INFO, and the URL may hold a phone number.
QUIET_LOGGERS = ("httpx", "httpcore")
# Libraries whose debug output quotes what passes through them (request and response
# headers, connection strings): they stay at INFO when the gateway logs at DEBUG.
LIBRARY_LOGGERS = (
    "uvicorn",
    "websockets",
    "wsproto",
    "h11",
    "hpack",
    "asyncio",
    "aiohttp",
    "redis",
    "urllib3",
    "requests",
    "opentelemetry",
    "strawberry",
    "graphql",
    "multipart",
    "python_multipart",
)
# Credentials as they appear in text a library may log: header lines and values,
# `Bearer` tokens, Telnyx keys (`KEY` + 20 or more letters, digits, `_` or `-`), and the
# password of a URL (`redis://user:password@host`).
SECRET_PATTERNS = re.compile(
    r"(?i)((?:proxy-)?authorization|x-api-key|api-key|cookie|set-cookie)(['\"]?\s*[:=,]\s*['\"]?)[^\r\n'\"]*"
    r"|\bbearer\s+[^\s'\",;]+"
    r"|(?-i:\bKEY[0-9A-Za-z_-]{20,})"
    r"|(?<=://)[^/\s:@]*:[^/\s@]*(?=@)"
)


def redact(text: str) -> str:
    """`text` with every credential that `SECRET_PATTERNS` finds replaced by `REDACTED`."""
    return SECRET_PATTERNS.sub(_redaction, text)


def _redaction(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1) + match.group(2) + REDACTED
    return REDACTED


class LibraryRedaction(logging.Filter):
    """Redacts credentials from records of loggers that are not the gateway's own.

    The gateway's own lines never hold a secret (the tests scan them); a library's may
    quote a header or a connection string, at any level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("gateway.") or record.name == "gateway":
            return True
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str, stream: IO[str] | None = None) -> None:
    """Send every log record to `stream` (stderr by default) as JSON lines, libraries at
    INFO or above and redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LibraryRedaction())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
