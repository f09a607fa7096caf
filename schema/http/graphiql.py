"""GraphiQL on `GET /graphql`, from files installed from the npm registry, never a CDN.

`make web` installs React, ReactDOM and GraphiQL from `web/package-lock.json` (the image
build does the same). The gateway reads the few files the page needs once, at start-up,
and serves them under `/graphiql/<digest>/<name>`: the digest changes with the content, so
browsers may keep them for a year. The page runs nothing but those scripts and its own
(`static/graphiql.js`, which reads the page's settings from data attributes): its
Content-Security-Policy forbids inline script, other origins, framing and form posts.

In demo mode the headers pane holds the demo token; otherwise the page asks for a tenant
token first and keeps it in the tab's memory only (GraphiQL's header persistence is off).
Where the files are missing the page says so, and how to install them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import logging
from dataclasses import dataclass
from pathlib import Path

from graphql import parse, print_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from schema.http.negotiation import quality_of

logger = logging.getLogger(__name__)

# web/node_modules of the checkout; the image keeps the same layout under /app.
DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "web" / "node_modules"
STATIC = Path(__file__).resolve().parent / "static"
# Where the files are served, relative to the page (so a path prefix in front still works).
ASSET_PREFIX = "graphiql"
# The README's example query: what the editor opens with.
EXAMPLE_QUERY = (
    "{ messagingProfiles(first: 2) { totalCount edges { node { id name "
    "phoneNumbers(first: 3) { edges { node { phoneNumber type } } } "
    "shortCodes { edges { node { shortCode } } } } } } }"
)

JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Source:
    """One file the page loads: its name in the URL, its path on disk, its media type."""

    name: str
    path: str
    media_type: str


# Installed from the npm registry, under the assets directory; in the order the page loads them.
VENDOR_STYLES = (Source("graphiql.min.css", "graphiql/graphiql.min.css", CSS),)
VENDOR_SCRIPTS = (
    Source("react.production.min.js", "react/umd/react.production.min.js", JAVASCRIPT),
    Source("react-dom.production.min.js", "react-dom/umd/react-dom.production.min.js", JAVASCRIPT),
    Source("graphiql.min.js", "graphiql/graphiql.min.js", JAVASCRIPT),
)
# Ours, under `static/`.
OWN_STYLES = (Source("gateway-graphiql.css", "graphiql.css", CSS),)
OWN_SCRIPTS = (Source("gateway-graphiql.js", "graphiql.js", JAVASCRIPT),)


@dataclass(frozen=True, slots=True)
class Asset:
    """A file as served: its bytes, gzipped too, and the digests that name and pin it."""

    name: str
    media_type: str
    body: bytes
    gzipped: bytes
    digest: str
    integrity: str

    @classmethod
    def read(cls, source: Source, root: Path) -> Asset:
        body = (root / source.path).read_bytes()
        return cls(
            name=source.name,
            media_type=source.media_type,
            body=body,
            gzipped=gzip.compress(body, mtime=0),
            digest=hashlib.sha256(body).hexdigest()[:16],
            integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(),
        )

    @property
    def url(self) -> str:
        return f"{ASSET_PREFIX}/{self.digest}/{self.name}"


def _accepts_gzip(accept_encoding: str) -> bool:
    qualities: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, *parameters = part.split(";")
        qualities[coding.strip().lower()] = quality_of(parameters)
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · Telnyx messaging gateway</title>
<link rel="icon" href="data:,">
{styles}
</head>
<body>
<div id="graphiql" data-query="{query}" data-token="{token}">
<form id="token-form" hidden>
<h1>GraphiQL · Telnyx messaging gateway</h1>
<label for="token">Your tenant token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Open GraphiQL</button>
<p>Every request GraphiQL makes, the schema's included, sends it as
<code>Authorization: Bearer &lt;token&gt;</code>. It stays in this tab's memory only.</p>
</form>
<noscript>GraphiQL needs JavaScript.</noscript>
</div>
{scripts}
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GraphiQL is not installed · Telnyx messaging gateway</title>
</head>
<body>
<h1>GraphiQL's files are not installed</h1>
<p>This gateway serves GraphiQL from files installed from the npm registry, never from a
CDN, and it did not find them: {missing}.</p>
<p>In a checkout of the gateway, run <code>make web</code> (it runs <code>npm ci</code> in
<code>web/</code>) and restart it; the image built from <code>deploy/Dockerfile</code>
installs them itself. <code>GATEWAY_GRAPHIQL_ASSETS</code> names another directory that
holds them.</p>
<p><code>POST /graphql</code> works without them.</p>
</body>
</html>
"""


class GraphiQL:
    """The page and its files, read once; `demo_token` None asks the user for a token."""

    def __init__(self, assets: Path, *, demo_token: str | None) -> None:
        vendor = (*VENDOR_STYLES, *VENDOR_SCRIPTS)
        self.missing = tuple(s.path for s in vendor if not (assets / s.path).is_file())
        if self.missing:
            # The full path is for the operator's log; the page names only the files.
            logger.warning("GraphiQL's files are missing under %s: run `make web`", assets)
            self._assets: dict[str, Asset] = {}
            self._page = _MISSING.format(
                missing=", ".join(f"<code>{html.escape(path)}</code>" for path in self.missing)
            ).encode()
            return
        styles = [Asset.read(s, assets) for s in VENDOR_STYLES]
        styles += [Asset.read(s, STATIC) for s in OWN_STYLES]
        scripts = [Asset.read(s, assets) for s in VENDOR_SCRIPTS]
        scripts += [Asset.read(s, STATIC) for s in OWN_SCRIPTS]
        self._assets = {asset.name: asset for asset in (*styles, *scripts)}
        self._page = _PAGE.format(
            styles="\n".join(
                f'<link rel="stylesheet" href="{a.url}" integrity="{a.integrity}">' for a in styles
            ),
            scripts="\n".join(
                f'<script src="{a.url}" integrity="{a.integrity}"></script>' for a in scripts
            ),
            query=html.escape(print_ast(parse(EXAMPLE_QUERY)), quote=True),
            token=html.escape(demo_token or "", quote=True),
        ).encode()

    def page(self) -> Response:
        """The page; 503 saying how to install the files when they are missing."""
        return HTMLResponse(
            self._page,
            status_code=503 if self.missing else 200,
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": PAGE_POLICY,
                # It changes with every upgrade, and in demo mode it holds the token.
                "Cache-Control": "no-store",
            },
        )

    async def asset(self, request: Request) -> Response:
        """`GET /graphiql/<digest>/<name>`: a file the page loads."""
        found = self._assets.get(request.path_params["name"])
        if found is None or request.path_params["digest"] != found.digest:
            return PlainTextResponse("Not Found", status_code=404, headers=SECURITY_HEADERS)
        gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
        headers = {**SECURITY_HEADERS, "Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return Response(
            found.gzipped if gzipped else found.body,
            media_type=found.media_type,
            headers=headers,
        )
