"""An open-loop HTTP load generator: requests leave on a fixed schedule, whatever the server does.

A closed-loop tool such as wrk sends the next request only when a connection is free,
so a server that stalls also stalls the load, and the requests that *would* have been
sent during the stall are never measured ("coordinated omission"). Here request i is
scheduled at ``start + i / rate`` and its latency is measured from that scheduled
time, so a stall shows up in full in every request it delayed. A request never waits
for another one: it takes an idle keep-alive connection, or opens a new one.

Standard library only (asyncio streams, HTTP/1.1), so `make bench` needs nothing more.
It speaks just enough HTTP for one server on loopback: no TLS, no proxies, no
redirects. `python -m tests.devtools.loadgen --help` runs it alone and prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_ERROR_SAMPLES = 5
MAX_HEADER_BYTES = 64 * 1024

BodyFor = Callable[[int], bytes]


@dataclass(frozen=True)
class Target:
    """Where to send and what: `body_for(i)` gives request i's body."""

    host: str
    port: int
    path: str
    body_for: BodyFor
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass
class OpenLoopResult:
    rate: float
    seconds: float
    scheduled: int
    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    max_send_lag_ms: float = 0.0
    connections_opened: int = 0
    # The loop's clock (time.monotonic) at request 0's scheduled time: request i was
    # due at started_at + i / rate, which other processes' monotonic stamps compare to.
    started_at: float = 0.0

    @property
    def achieved_rate(self) -> float:
        """Successful answers per second over the whole run, including the tail."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies, in ms."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        rank = max(math.ceil(fraction * len(ordered)), 1)
        return ordered[rank - 1]

    def summary(self) -> dict[str, float | int | list[str]]:
        return {
            "rate_target": self.rate,
            "seconds": self.seconds,
            "scheduled": self.scheduled,
            "ok": self.ok,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "achieved_rate": self.achieved_rate,
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.latencies_ms, default=math.nan),
            "max_send_lag_ms": self.max_send_lag_ms,
            "connections_opened": self.connections_opened,
        }

    def record_error(self, description: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(description)


class HttpError(Exception):
    """The server answered something that is not a complete 2xx HTTP/1.1 response."""


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Pool:
    """Idle keep-alive connections; a request that finds none opens its own."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.idle: list[_Connection] = []
        self.opened = 0

    async def acquire(self) -> _Connection:
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    def release(self, connection: _Connection) -> None:
        self.idle.append(connection)

    async def close(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        for _reader, writer in self.idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self.idle.clear()


def encode_request(target: Target, body: bytes) -> bytes:
    lines = [
        f"{target.method} {target.path} HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in target.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, whether the connection may be reused)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise HttpError("response headers too large")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {status_line!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        await _read_chunked(reader)
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        raise HttpError("response has neither Content-Length nor chunked encoding")
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    return int(parts[1]), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)  # the chunk and its CRLF
        if size == 0:
            return


async def _exchange(pool: _Pool, target: Target, body: bytes) -> int:
    """One request on a pooled connection; the connection goes back only if still usable."""
    reader, writer = await pool.acquire()
    try:
        writer.write(encode_request(target, body))
        await writer.drain()
        status, keep_alive = await read_response(reader)
    except BaseException:
        writer.close()
        raise
    if keep_alive:
        pool.release((reader, writer))
    else:
        writer.close()
    return status


async def _timed_request(
    pool: _Pool,
    target: Target,
    index: int,
    scheduled: float,
    timeout: float,
    result: OpenLoopResult,
) -> None:
    loop = asyncio.get_running_loop()
    try:
        status = await asyncio.wait_for(_exchange(pool, target, target.body_for(index)), timeout)
    except TimeoutError:
        result.record_error(f"request {index}: no answer within {timeout:g} s")
        return
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError) as error:
        result.record_error(f"request {index}: {type(error).__name__}: {error}")
        return
    if not 200 <= status < 300:
        result.record_error(f"request {index}: HTTP {status}")
        return
    result.ok += 1
    result.latencies_ms.append((loop.time() - scheduled) * 1000)


async def run_open_loop(
    target: Target, *, rate: float, seconds: float, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> OpenLoopResult:
    """Send `rate * seconds` requests on schedule; wait for the stragglers (up to `timeout`)."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    loop = asyncio.get_running_loop()
    count = max(round(rate * seconds), 1)
    result = OpenLoopResult(rate=rate, seconds=seconds, scheduled=count)
    pool = _Pool(target.host, target.port)
    tasks: list[asyncio.Task[None]] = []
    start = result.started_at = loop.time()
    try:
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            result.max_send_lag_ms = max(result.max_send_lag_ms, (loop.time() - scheduled) * 1000)
            tasks.append(
                asyncio.create_task(_timed_request(pool, target, index, scheduled, timeout, result))
            )
        await asyncio.gather(*tasks)
        result.elapsed = max(loop.time() - start, seconds)
    finally:
        for task in tasks:
            task.cancel()
        await pool.close()
    result.connections_opened = pool.opened
    return result


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.loadgen",
        description="POST one JSON body at a fixed rate; print latency from the scheduled time.",
    )
    parser.add_argument("url", help="http://127.0.0.1:PORT/path (plain HTTP only)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second [50]")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send [10]")
    parser.add_argument("--body", default="{}", help="the JSON body of every request")
    parser.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="extra header"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        raise SystemExit("loadgen: only plain http:// URLs are supported")
    body = args.body.encode("utf-8")
    headers = dict(item.split(":", 1) for item in args.header)
    target = Target(
        host=url.hostname,
        port=url.port or 80,
        path=url.path or "/",
        body_for=lambda _index: body,
        headers={name.strip(): value.strip() for name, value in headers.items()},
    )
    result = asyncio.run(run_open_loop(target, rate=args.rate, seconds=args.seconds))
    print(json.dumps(result.summary(), indent=2))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
