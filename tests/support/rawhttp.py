"""HTTP/1.1 over a raw socket, for clients that misbehave on purpose: a huge declared
body, a chunked body without end, a request trickled a byte at a time."""

import json
import select
import socket
import time

GENEROUS = 60.0  # seconds a test waits for the server to act; never a bound it asserts


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS)
    # A modest send buffer, so that what the client managed to send is close to what
    # the server took in.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)
    return sock


def head(method: bytes, path: bytes, *headers: bytes) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a reset after an answer counts as
    closed too."""
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head_part, _, body = answer.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), json.loads(body)


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def healthy(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS) as sock:
        sock.sendall(head(b"GET", b"/healthz", b"Connection: close"))
        answer = read_until_closed(sock)
    return answer.startswith(b"HTTP/1.1 200 ")


def push(sock: socket.socket, pieces, *, stop_at_answer: bool) -> tuple[int, bytes]:
    """Send pieces until they run out, the connection breaks, or (stop_at_answer) the
    server answers; the bytes sent and the answer seen (b"" if none)."""
    sent = 0
    for piece in pieces:
        if stop_at_answer and select.select([sock], [], [], 0)[0]:
            return sent, read_until_closed(sock)
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    return sent, read_until_closed(sock)


def chunked(total: int, size: int = 64 * 1024):
    """A chunked body of `total` bytes, then its last chunk."""
    piece = b"%x\r\n" % size + b"a" * size + b"\r\n"
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


def raw_body(total: int, size: int = 1024 * 1024):
    piece = b"a" * size
    for _ in range(total // size):
        yield piece


def trickle_until_closed(socks: list[socket.socket], byte: bytes) -> dict:
    """Send one byte every half second on each socket until the server ends it; the
    answer each one got before it closed. Fails if any is still open after GENEROUS."""
    answers: dict[socket.socket, bytes] = {}
    open_socks = set(socks)
    deadline = time.monotonic() + GENEROUS
    while open_socks and time.monotonic() < deadline:
        for sock in list(open_socks):
            try:
                sock.sendall(byte)
            except (BrokenPipeError, ConnectionResetError):
                answers.setdefault(sock, b"")
                open_socks.discard(sock)
        readable, _, _ = select.select(list(open_socks), [], [], 0.5)
        for sock in readable:
            answers[sock] = read_until_closed(sock)
            open_socks.discard(sock)
    assert not open_socks, f"{len(open_socks)} of {len(socks)} connections still open"
    return answers
