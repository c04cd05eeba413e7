"""Throwaway PostgreSQL and Redis servers on free loopback ports, for tests and benches.

`make test-scale` and `make bench` need the production engines without touching any
server the machine already runs: this starts Debian's `postgres` and `redis-server`
in a temporary folder, runs a command with DATABASE_URL and REDIS_URL pointing at
them, and removes everything afterwards, whatever the command's outcome.

    python -m tests.devtools.throwaway -- pytest -m scale

PostgreSQL refuses to run as root, so as root its processes run as the `postgres`
user that Debian's package creates.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "handoff"
START_TIMEOUT_SECONDS = 30.0


class MissingServer(RuntimeError):
    """A server program is not installed; the message says which package provides it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin_dir() -> Path:
    """The newest Debian PostgreSQL server's programs (/usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        raise MissingServer(
            "PostgreSQL's server is not installed (Debian package `postgresql`): "
            "run `make scale-services` or `apt-get install postgresql`."
        )
    return Path(found[-1]).parent


def redis_server_path() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise MissingServer(
            "redis-server is not installed (Debian package `redis-server`): "
            "run `make scale-services` or `apt-get install redis-server`."
        )
    return path


@dataclass
class Servers:
    database_url: str
    redis_url: str
    folder: Path

    def environ(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}


def _as_postgres_user(command: list[str]) -> list[str]:
    """As root, run as Debian's `postgres` user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(  # noqa: S603 - our own fixed command lines
            command, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed (exit {result.returncode}):\n{log.read_text()[-2000:]}"
        )


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[str]:
    bin_dir = postgres_bin_dir()
    data, port = folder / "pg-data", free_port()
    log = folder / "postgres-setup.log"  # ours; the server writes postgres.log itself
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    _run(
        _as_postgres_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        log,
    )
    # Durability off: these servers hold only test data and die with the run.
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    _run(
        _as_postgres_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "postgres.log"),
                "-w",
                "-o",
                options,
                "start",
            ]
        ),
        log,
    )
    try:
        _run(
            _as_postgres_user(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    DATABASE_NAME,
                ]
            ),
            log,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"
    finally:
        subprocess.run(  # noqa: S603 - our own fixed command line
            _as_postgres_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


@contextlib.contextmanager
def redis(folder: Path) -> Iterator[str]:
    port = free_port()
    log = (folder / "redis.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own fixed command line
        [
            redis_server_path(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, folder / "redis.log")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT_SECONDS} s")


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """PostgreSQL and Redis for the duration of the block, then nothing left behind."""
    folder = Path(tempfile.mkdtemp(prefix="handoff-servers-"))
    folder.chmod(0o755)
    try:
        with postgres(folder) as database_url, redis(folder) as redis_url:
            yield Servers(database_url, redis_url, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m tests.devtools.throwaway -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        with servers() as running:
            print(
                f"throwaway: PostgreSQL at {running.database_url}, Redis at {running.redis_url}",
                flush=True,
            )
            return subprocess.run(  # noqa: S603 - the command the user asked to run
                argv, env={**os.environ, **running.environ()}
            ).returncode
    except MissingServer as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
