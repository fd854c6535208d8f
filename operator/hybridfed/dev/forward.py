"""A small TCP forwarder: `python -m hybridfed.dev.forward LISTEN_HOST:PORT TARGET_HOST:PORT`.

The local fleet runs one per pull member so that the hub's API server, bound to the host's loopback, is
reachable from inside the member's network namespace at the host end of its veth, as a real hub is reachable
from behind NAT. It moves bytes only: TLS runs end to end between the client and the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

_CHUNK = 64 * 1024


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port); the message names the bad value."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {text!r} is malformed: expected HOST:PORT")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        # Half-close: the other direction may still be answering (HTTP does not need it, TCP allows it).
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()  # a reset on one side ends the other: its reader sees EOF


async def _handle(target: tuple[str, int], client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        upstream_r, upstream_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()  # the client sees the connection close, as if the target refused it
        return
    try:
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))
    finally:
        for w in (client_w, upstream_w):
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()


async def serve(listen: tuple[str, int], target: tuple[str, int]) -> None:
    """Forward every connection to `listen` to `target` until cancelled (SIGTERM/SIGINT end it cleanly)."""
    server = await asyncio.start_server(lambda r, w: _handle(target, r, w), *listen, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"forwarding {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m hybridfed.dev.forward LISTEN_HOST:PORT TARGET_HOST:PORT", file=sys.stderr)
        return 2
    try:
        listen, target = parse_address(args[0]), parse_address(args[1])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(listen, target))
    except OSError as exc:  # e.g. the listen address is not (yet) on any link
        print(f"error: cannot listen on {args[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
