"""Serve the simulator alone: the hook behind ``python -m gateway simulate``."""

from __future__ import annotations

import uvicorn

from gateway.simulator.app import Simulator


def run(host: str = "127.0.0.1", port: int = 8081, latency: float = 0.0) -> None:
    """Serve a fresh simulator with uvicorn until interrupted."""
    simulator = Simulator(latency=latency)
    # The bare simulator must be the server's top-level app, or dropped connections
    # would turn into 500s (see gateway.simulator.app).
    uvicorn.run(simulator.app, host=host, port=port, log_level="info", access_log=False)
