"""Throwaway servers for the tests that run against a shared deployment's engines: a Postgres
cluster (Debian's `postgresql`, initdb into a temporary folder) and a Chroma server (`chroma
run`, from the chromadb package), both on loopback ports of their own."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STARTUP_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of Postgres's server programs (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def start_postgres() -> tuple[str, Callable[[], None]]:
    """(admin URL, stop) of a new cluster. As root, it runs as the `postgres` user, since
    Postgres refuses to run as root."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("Postgres is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="society-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=STARTUP_S)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "society", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")

    def stop() -> None:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql+psycopg://society@127.0.0.1:{port}/postgres", stop


def start_chroma() -> tuple[str, Callable[[], None]]:
    """(URL, stop) of a new Chroma server keeping its data in a temporary folder."""
    import chromadb

    folder = Path(tempfile.mkdtemp(prefix="society-chroma-"))
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = (folder / "log").open("wb")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)

    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return f"http://127.0.0.1:{port}", stop
        except Exception:  # noqa: BLE001 - not up yet
            if server.poll() is not None or time.monotonic() > deadline:
                stop()
                raise RuntimeError(f"the Chroma server did not start: {(folder / 'log').read_text()[-500:]}") from None
            time.sleep(0.2)
