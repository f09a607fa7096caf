"""Redis as operators deploy it, started by the tests on free ports: TLS with a CA made for
the test (openssl) and a password, a Sentinel watching a master, a three-node Cluster."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.process import free_port
from tests.services import STARTUP_DEADLINE, redis_server_binary

PASSWORD = "s3cret-redis-password"
HOST = "127.0.0.1"  # the certificate's name, and no "localhost" that may resolve to ::1


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Tls:
    """A CA, and a certificate it signed for 127.0.0.1."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)  # noqa: S607

    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-subj", "/CN=test CA", "-keyout", "ca.key", "-out", "ca.crt"),
    )
    openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"),
        *("-keyout", "redis.key", "-out", "redis.csr"),
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        *("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "redis.crt"),
    )
    return Tls(directory / "ca.crt", directory / "redis.crt", directory / "redis.key")


def wait_until(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, stderr = process.communicate()
            raise RuntimeError(f"{what} did not start: {stderr.decode(errors='replace')}")
        time.sleep(0.05)


@contextlib.contextmanager
def server(*args: str, check: Callable[[], bool], what: str = "redis-server") -> Iterator[None]:
    process = subprocess.Popen(
        [redis_server_binary(), *args, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(check, process, what)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@contextlib.contextmanager
def tls_redis(directory: Path) -> Iterator[tuple[int, Tls]]:
    """A Redis that speaks only TLS and wants `PASSWORD`; its port and certificates."""
    tls = make_certificates(directory)
    port = free_port()

    def answers() -> bool:
        client = redis.Redis(
            host=HOST,
            port=port,
            password=PASSWORD,
            ssl=True,
            ssl_ca_certs=str(tls.ca),
            socket_timeout=1,
        )
        with contextlib.closing(client):
            return client.ping() is True

    with server(
        *("--port", "0", "--tls-port", str(port), "--requirepass", PASSWORD),
        *("--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key)),
        *("--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "no"),
        check=answers,
    ):
        yield port, tls


def plain_redis(port: int) -> Callable[[], bool]:
    def answers() -> bool:
        with contextlib.closing(redis.Redis(host=HOST, port=port, socket_timeout=1)) as client:
            return client.ping() is True

    return answers


@contextlib.contextmanager
def sentinel_watching(directory: Path) -> Iterator[tuple[int, int]]:
    """A master and a Sentinel that monitors it as `mymaster`: (master port, sentinel port)."""
    master, sentinel = free_port(), free_port()
    config = directory / "sentinel.conf"
    config.write_text(
        f"port {sentinel}\nbind 127.0.0.1\n"
        f"sentinel monitor mymaster 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds mymaster 5000\n"
    )

    def knows_master() -> bool:
        with contextlib.closing(redis.Redis(host=HOST, port=sentinel, socket_timeout=1)) as client:
            found = client.execute_command("SENTINEL", "get-master-addr-by-name", "mymaster")  # type: ignore[no-untyped-call]
            return bool(found) and int(found[1]) == master

    with (
        server("--port", str(master), check=plain_redis(master)),
        server(str(config), "--sentinel", check=knows_master, what="redis-sentinel"),
    ):
        yield master, sentinel


@contextlib.contextmanager
def cluster(directory: Path, nodes: int = 3) -> Iterator[list[int]]:
    """A Redis Cluster of `nodes` masters, every slot assigned; their ports."""
    ports = [free_port() for _ in range(nodes)]
    # Not port + 10000, which may be taken or past 65535.
    bus = {port: free_port() for port in ports}
    with contextlib.ExitStack() as stack:
        for port in ports:
            (directory / str(port)).mkdir()
            stack.enter_context(
                server(
                    *("--port", str(port), "--cluster-enabled", "yes"),
                    *("--cluster-port", str(bus[port]), "--dir"),
                    *(str(directory / str(port)), "--cluster-config-file", "nodes.conf"),
                    check=plain_redis(port),
                )
            )
        slots = 16384
        for index, port in enumerate(ports):
            first, last = slots * index // nodes, slots * (index + 1) // nodes - 1
            with contextlib.closing(redis.Redis(host=HOST, port=port)) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)  # type: ignore[no-untyped-call]
        with contextlib.closing(redis.Redis(host=HOST, port=ports[0])) as client:
            for port in ports[1:]:
                client.execute_command("CLUSTER", "MEET", HOST, port, bus[port])  # type: ignore[no-untyped-call]

        def formed() -> bool:
            for port in ports:
                with contextlib.closing(redis.Redis(host=HOST, port=port)) as client:
                    info = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    if "cluster_state:ok" not in text or f"cluster_known_nodes:{nodes}" not in text:
                        return False
            return True

        deadline = time.monotonic() + STARTUP_DEADLINE
        while not formed():
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not form")
            time.sleep(0.05)
        yield ports
