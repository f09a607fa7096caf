"""Command line: python -m gateway serve | simulate | export-schema | new-token."""

from __future__ import annotations

import argparse
import errno
import gc
import socket
import sys
import textwrap

from pydantic import ValidationError

from gateway.config import Settings, documented, variable

# Collections of the young generation every 50,000 net allocations, of the older ones
# rarely: cycles are few here (reference counting frees nearly everything).
GC_THRESHOLDS = (50_000, 50, 1_000)

DESCRIPTION = "The Telnyx messaging gateway: serve it, its Telnyx simulator, or its schema."
SERVE_DESCRIPTION = (
    "Serve the gateway. Every setting is an environment variable; the README's settings "
    "table says the same as this list."
)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            _problem(error["loc"], error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        )
        sys.exit(f"invalid settings: {problems}")


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    message = message.removeprefix("Value error, ")
    if not loc:  # a rule across settings; its message names them
        return message
    return f"{variable(str(loc[0]))}: {message}"


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def settings_help(width: int = 79) -> str:
    """Every setting with its default and meaning, for ``serve --help``."""
    lines = ["settings (environment variables):"]
    for setting in documented():
        lines.append(f"  {setting.variable} (default: {_plain(setting.default)})")
        lines.extend(
            textwrap.wrap(
                _plain(setting.meaning),
                width=width,
                initial_indent="      ",
                subsequent_indent="      ",
            )
        )
    return "\n".join(lines)


def ensure_port_free(host: str, port: int, variable: str = "GATEWAY_PORT") -> None:
    """Exit, naming the address, when the server could not listen there: checked before
    anything is printed that invites a caller to connect."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server sets it: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = (
                f"another process is listening on it (choose another with {variable})"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror
            )
            sys.exit(f"cannot listen on {host} port {port}: {reason}")


def serve() -> None:
    from gateway.app import DEMO_TENANT_ID, create_app
    from gateway.logs import configure_logging
    from gateway.reload import reload_on_sighup
    from gateway.server import run
    from gateway.tenancy import TenantsFileError
    from schema.http.documents import TrustedDocumentsError

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except (TenantsFileError, TrustedDocumentsError) as exc:
        sys.exit(str(exc))
    ensure_port_free(settings.host, settings.port)
    ensure_port_free(settings.host, settings.metrics_port, "GATEWAY_METRICS_PORT")
    reload_on_sighup(app.state.tenants_reloader)
    if settings.is_demo:
        url = f"http://{settings.host}:{settings.port}"
        query = (
            '{"query":"{ messagingProfiles(first: 2) { totalCount edges { node { id name '
            "phoneNumbers(first: 3) { edges { node { phoneNumber type } } } "
            'shortCodes { edges { node { shortCode } } } } } } }"}'
        )
        print(
            f"Demo mode: tenant {DEMO_TENANT_ID!r} on the embedded Telnyx simulator.\n"
            f"  GraphiQL:   {url}/graphql\n"
            f"  Token:      {settings.demo_token}\n"
            f"  Try:        curl -s {url}/graphql -H 'Authorization: Bearer "
            f"{settings.demo_token}' -H 'Content-Type: application/json' -d '{query}'\n",
            flush=True,
        )
    # Everything built so far lives as long as the process: keep the collector from
    # scanning it again on every collection (measured: p99 of the cold nested query halved).
    gc.collect()
    gc.freeze()
    # A large answer allocates tens of thousands of containers that reference counting
    # frees at once; at the default thresholds the collector ran every 700 of them and
    # held the loop for whole collections (bench.fairness: 6.4 large answers/s and another
    # tenant's p95 at 200 ms, against 9.6/s and 66 ms with these).
    gc.set_threshold(*GC_THRESHOLDS)
    run(app, settings)


def simulate(port: int, host: str, latency: float) -> None:
    from gateway.simulator import run

    run(host=host, port=port, latency=latency)


def export_schema(federation: bool) -> None:
    from schema import federation_sdl, sdl

    sys.stdout.write(federation_sdl() if federation else sdl())


def new_token() -> None:
    from gateway.tenancy import new_token as make

    token, digest = make()
    print(f"token:        {token}\ntoken_sha256: {digest}")
    print("Give the token to the caller; put only token_sha256 in the tenants file.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve",
        help="serve the gateway (settings from GATEWAY_* and OTEL_* variables)",
        description=textwrap.fill(SERVE_DESCRIPTION, width=79),
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulator = commands.add_parser("simulate", help="serve the Telnyx simulator alone")
    simulator.add_argument("--port", type=int, default=12111)
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    exporter = commands.add_parser("export-schema", help="print the GraphQL SDL")
    exporter.add_argument(
        "--federation", action="store_true", help="the federation subgraph's SDL instead"
    )
    commands.add_parser("new-token", help="print a new random tenant token and its sha256")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve()
    elif args.command == "simulate":
        simulate(args.port, args.host, args.latency)
    elif args.command == "export-schema":
        export_schema(args.federation)
    else:
        new_token()


if __name__ == "__main__":
    main()
