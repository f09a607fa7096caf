"""Half-open connections: open many, send a request head that never ends, hold them.

    .venv/bin/python -m bench.halfopen --port N --connections 10000 --seconds 30

Prints one JSON object when done: how many connections opened, how many could not be
opened, how many the server closed and when the last one closed (seconds from the
start), and how many were still open at the end. One process holds at most its
open-files limit; `bench/servers_compare.py --flood` starts several.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


async def flood(port: int, connections: int, seconds: float) -> dict[str, float | int | None]:
    started = time.monotonic()
    stop_at = started + seconds
    opened = failed = closed = 0
    last_close: float | None = None
    gate = asyncio.Semaphore(256)  # connection attempts in flight at once

    async def hold() -> None:
        nonlocal opened, failed, closed, last_close
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 10
                )
                writer.write(HEAD)
            except (OSError, TimeoutError):
                failed += 1
                return
        opened += 1
        try:
            while await asyncio.wait_for(reader.read(65536), stop_at - time.monotonic()):
                pass
        except TimeoutError:  # still open at the end (caught before OSError, its base)
            return
        except OSError:
            pass  # reset by the server: closed too
        finally:
            writer.close()
        closed += 1
        last_close = time.monotonic() - started

    await asyncio.gather(*(hold() for _ in range(connections)))
    return {
        "opened": opened,
        "failed": failed,
        "closed_by_server": closed,
        "last_close_s": None if last_close is None else round(last_close, 2),
        "open_at_end": opened - closed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(flood(args.port, args.connections, args.seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
