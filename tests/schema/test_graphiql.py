"""GraphiQL: its page and files as the gateway serves them, and the page in a real browser."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, print_ast

from gateway.config import Settings
from schema.http.graphiql import DEFAULT_ASSETS, EXAMPLE_QUERY, VENDOR_SCRIPTS, VENDOR_STYLES
from tests import nodetools
from tests.conftest import ALPHA_TOKEN, GATEWAY_URL, MakeApp, client_for
from tests.deploy.support import dockerfile
from tests.process import ROOT
from tests.server import serve

HTML = {"Accept": "text/html"}
PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}
# What the page loads, in order: GraphiQL's and React's files (from npm), then ours.
LOADED = [
    ("graphiql.min.css", "web/node_modules/graphiql/graphiql.min.css"),
    ("gateway-graphiql.css", "schema/http/static/graphiql.css"),
    ("react.production.min.js", "web/node_modules/react/umd/react.production.min.js"),
    (
        "react-dom.production.min.js",
        "web/node_modules/react-dom/umd/react-dom.production.min.js",
    ),
    ("graphiql.min.js", "web/node_modules/graphiql/graphiql.min.js"),
    ("gateway-graphiql.js", "schema/http/static/graphiql.js"),
]


def readme_query() -> str:
    """The query of the README's first curl example."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"-d '(\{\"query\":.*\})'", readme)
    assert match is not None
    query: str = json.loads(match.group(1))["query"]
    return query


def references(page: str) -> list[tuple[str, str]]:
    """(url, integrity) of every script and stylesheet the page loads, in order."""
    return re.findall(r'(?:src|href)="([^"]+)" integrity="([^"]+)"', page)


def sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    # Settings outside demo mode need one; the tests' app is given its tenants directly.
    path = tmp_path / "tenants.json"
    path.write_text('{"tenants": []}')
    return path


# --- the page and its files --------------------------------------------------------------


async def test_the_page_loads_only_its_own_files_with_strict_headers(make_app: MakeApp) -> None:
    nodetools.web_assets()
    async with client_for(make_app(graphiql=True), token=None) as anonymous:
        page = await anonymous.get("/graphql", headers=HTML)
        loaded = references(page.text)
        files = [await anonymous.get(f"/{url}") for url, _ in loaded]
    assert page.status_code == 200
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert [url.rsplit("/", 1)[1] for url, _ in loaded] == [name for name, _ in LOADED]
    for (url, integrity), response, (_, source) in zip(loaded, files, LOADED, strict=True):
        body = (ROOT / source).read_bytes()
        assert url == f"graphiql/{hashlib.sha256(body).hexdigest()[:16]}/{url.rsplit('/', 1)[1]}"
        assert integrity == sha384(body)
        assert response.status_code == 200
        assert response.content == body
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-type"] == (
            "text/css; charset=utf-8" if url.endswith(".css") else "text/javascript; charset=utf-8"
        )


async def test_files_are_gzipped_for_clients_that_accept_it(make_app: MakeApp) -> None:
    nodetools.web_assets()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(graphiql=True)), base_url=GATEWAY_URL
    ) as raw:
        page = await raw.get("/graphql", headers=HTML)
        url = next(url for url, _ in references(page.text) if url.endswith("graphiql.min.js"))
        # As sent: httpx would decode it.
        async with raw.stream("GET", f"/{url}", headers={"Accept-Encoding": "gzip"}) as zipped:
            sent = b"".join([chunk async for chunk in zipped.aiter_raw()])
        plain = await raw.get(f"/{url}", headers={"Accept-Encoding": "identity"})
    body = (ROOT / "web/node_modules/graphiql/graphiql.min.js").read_bytes()
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(sent) == plain.content == body
    assert len(sent) < len(body) // 3


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/0000000000000000/graphiql.min.js",  # another version's digest
        "/graphiql/{digest}/graphiql.js",  # not one of the files
        "/graphiql/{digest}/..%2F..%2Fpyproject.toml",
    ],
)
async def test_nothing_else_is_served(make_app: MakeApp, path: str) -> None:
    nodetools.web_assets()
    async with client_for(make_app(graphiql=True), token=None) as anonymous:
        page = await anonymous.get("/graphql", headers=HTML)
        digest = references(page.text)[-2][0].split("/")[1]
        response = await anonymous.get(path.format(digest=digest))
    assert response.status_code == 404
    assert response.text == "Not Found"


async def test_in_demo_mode_the_page_carries_the_demo_token(make_app: MakeApp) -> None:
    nodetools.web_assets()
    async with client_for(make_app(graphiql=True, demo_token="demo-xyz"), token=None) as client:
        page = await client.get("/graphql", headers=HTML)
    assert 'data-token="demo-xyz"' in page.text
    assert f'data-query="{print_ast(parse(EXAMPLE_QUERY))}"' in page.text


async def test_outside_demo_mode_the_page_asks_for_a_token(
    make_app: MakeApp, tenants_file: Path
) -> None:
    nodetools.web_assets()
    app = make_app(demo=False, tenants_file=tenants_file, graphiql=True)
    async with client_for(app, token=None) as anonymous:
        page = await anonymous.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert 'data-token=""' in page.text
    assert '<input id="token" name="token" type="password"' in page.text
    assert "demo-token" not in page.text


async def test_without_its_files_the_page_says_how_to_install_them(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(graphiql=True, graphiql_assets=tmp_path)
    async with client_for(app, token=None) as anonymous:
        page = await anonymous.get("/graphql", headers=HTML)
        asset = await anonymous.get("/graphiql/0000000000000000/graphiql.min.js")
    assert page.status_code == 503
    assert page.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]
    text = re.sub(r"<[^>]+>", "", page.text)
    assert "GraphiQL's files are not installed" in text
    assert (
        "did not find them: graphiql/graphiql.min.css, react/umd/react.production.min.js, "
        "react-dom/umd/react-dom.production.min.js, graphiql/graphiql.min.js." in text
    )
    assert "run make web (it runs npm ci in\nweb/)" in text
    assert str(tmp_path) not in page.text  # the server's paths are the operator's business
    assert asset.status_code == 404


async def test_graphiql_off_serves_neither_page_nor_files(make_app: MakeApp) -> None:
    async with client_for(make_app(graphiql=False), token=None) as anonymous:
        page = await anonymous.get("/graphql", headers=HTML)
        asset = await anonymous.get("/graphiql/0000000000000000/graphiql.min.js")
    assert (page.status_code, asset.status_code) == (404, 404)


def test_the_image_holds_every_file_the_page_loads_from_npm() -> None:
    copied = set()
    for instruction in dockerfile():
        words = instruction.words()
        if instruction.keyword != "COPY" or words[0] != "--from=web":
            continue
        *sources, destination = words[1:]
        for source in sources:
            # Into the builder's /app/web/node_modules, where DEFAULT_ASSETS points.
            assert source.removeprefix("/") == destination + Path(source).name
            copied.add(source.removeprefix("/web/node_modules/"))
    assert copied == {source.path for source in (*VENDOR_STYLES, *VENDOR_SCRIPTS)}
    assert DEFAULT_ASSETS == ROOT / "web" / "node_modules"


def test_the_editor_opens_with_the_readmes_query() -> None:
    assert readme_query() == EXAMPLE_QUERY


@pytest.mark.parametrize(
    ("changes", "introspection"),
    [
        ({}, False),
        ({"graphiql": True}, True),
        ({"graphiql": True, "introspection": False}, False),
        ({"graphiql": False, "introspection": True}, True),
        ({"demo": True}, True),
    ],
)
def test_graphiql_turns_introspection_on_unless_it_is_set(
    tenants_file: Path, changes: dict[str, Any], introspection: bool
) -> None:
    settings = Settings(tenants_file=tenants_file, otel_sdk_disabled=True, **changes)
    assert settings.introspection is introspection


# --- in a real browser -------------------------------------------------------------------


def browse(url: str, user_data: Path, query: str, token: str | None = None) -> dict[str, Any]:
    nodetools.chromium()
    args = [url, str(user_data), query] + ([] if token is None else [token])
    result = nodetools.run("graphiql.mjs", *args, timeout=90)
    assert result.returncode == 0, result.stderr
    seen: dict[str, Any] = json.loads(result.stdout)
    assert seen.get("error") is None, seen
    return seen


def assert_clean(seen: dict[str, Any], origin: str) -> None:
    """Nothing failed, nothing was refused by the page's policy, nothing left the gateway."""
    assert (seen["failed"], seen["violations"], seen["pageErrors"], seen["console"]) == (
        [],
        [],
        [],
        [],
    )
    assert [url for url in seen["requests"] if not url.startswith(f"{origin}/")] == []


@pytest.mark.slow
def test_in_a_browser_graphiql_runs_the_readmes_query(make_app: MakeApp, tmp_path: Path) -> None:
    nodetools.web_assets()
    query = readme_query()
    with serve(make_app(graphiql=True, demo_token=ALPHA_TOKEN)) as origin:
        seen = browse(f"{origin}/graphql", tmp_path / "browser", query)
        expected = httpx.post(
            f"{origin}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
        ).json()["data"]
    assert_clean(seen, origin)
    assert seen["status"] == 200
    assert seen["defaultQuery"] == print_ast(parse(query))
    assert seen["openPane"] == [json.dumps({"Authorization": f"Bearer {ALPHA_TOKEN}"}, indent=2)]
    assert json.loads(seen["result"])["data"] == expected
    assert len(expected["messagingProfiles"]["edges"]) == 2
    # The schema came through introspection: the documentation explorer shows it.
    assert "Root Types\nquery: Query\nmutation: Mutation" in seen["docs"]


@pytest.mark.slow
def test_in_a_browser_graphiql_asks_for_a_token_outside_demo_mode(
    make_app: MakeApp, tmp_path: Path, tenants_file: Path
) -> None:
    nodetools.web_assets()
    app = make_app(demo=False, tenants_file=tenants_file, graphiql=True, introspection=True)
    with serve(app) as origin:
        seen = browse(
            f"{origin}/graphql",
            tmp_path / "browser",
            "{ messagingProfiles { totalCount } }",
            token=ALPHA_TOKEN,
        )
    assert_clean(seen, origin)
    assert seen["askedForToken"] is True
    assert json.loads(seen["result"])["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert "Root Types\nquery: Query\nmutation: Mutation" in seen["docs"]
