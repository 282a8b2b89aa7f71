"""`elec serve` in a process of its own, for the benchmarks that measure it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def served(bundle: Path | str, max_rows: int, threads: int | None = None,
           options: list[str] | None = None) -> Iterator[tuple[str, int]]:
    """Start `elec serve BUNDLE [options]` on a free loopback port; yield (base URL, server
    pid) once it answers /healthz, and stop it afterwards."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    server = subprocess.Popen([sys.executable, "-m", "elec.cli", "serve", str(bundle),
                               "--port", str(port), "--max-rows", str(max_rows),
                               *(options or [])], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
