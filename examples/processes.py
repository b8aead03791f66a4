"""A secure aggregation round between separate OS processes, over TCP on 127.0.0.1.

The server (this process) and each client (a child process of its own) exchange the
parties' bytes through length-prefixed frames on a socket. The transport does what a
transport must: it authenticates each connection (here: a per-client secret handed to
the child on its stdin, checked in constant time; in a deployment, TLS client
certificates or the FL engine's node identities), tells the server which client a
message came from, and closes each stage when every pending client has answered,
disconnected, or the deadline has passed (a client that has not answered by then
counts as dropped). The
parties do everything else. One client is killed in the middle of the round; the
others finish, and the mean is checked against the survivors' plain mean.

    python examples/processes.py                      # SecAgg+, 6 clients, one killed
    python examples/processes.py --backend paillier --clients 5 --json

Run from the checkout with secagg installed (``pip install -e .``). Loopback only.
"""

from __future__ import annotations

import argparse
import hmac
import json
import secrets
import selectors
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np

import secagg
from secagg.masking import Graph, MaskingClient, MaskingConfig, MaskingServer
from secagg.paillier import PaillierClient, PaillierConfig, PaillierServer
from secagg.plain import PlainClient, PlainConfig, PlainServer
from secagg.quantize import QuantizationConfig, quantization_error_bound
from secagg.weighting import decode_weighted, encode_weighted

HOST = "127.0.0.1"
DIM = 1000
TOKEN_BYTES = 32
_FRAME = struct.Struct(">I")
_HELLO = struct.Struct(f">I{TOKEN_BYTES}s")  # client id, its secret


# --- framing: a u32 length, then the bytes -----------------------------------------


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_FRAME.pack(len(data)) + data)


def recv_frame(sock: socket.socket) -> bytes | None:
    """One frame, or None when the peer has gone."""
    head = _recv_exact(sock, _FRAME.size)
    return None if head is None else _recv_exact(sock, _FRAME.unpack(head)[0])


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except ConnectionError:  # reset: the peer is gone
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- the round's public configuration, the same in every process ---------------------


def make_config(backend: str, clients: int) -> Any:
    quant = QuantizationConfig(clip=1.0, bits=16, max_clients=clients)
    if backend in ("secagg", "secagg+"):
        graph = Graph.COMPLETE if backend == "secagg" else Graph.HARARY
        return MaskingConfig.create(graph, clients, DIM, quant, round_number=1)
    if backend == "paillier":
        return PaillierConfig(1, DIM, quant, tuple(range(1, clients + 1)))
    return PlainConfig(clients, DIM, quant, round_number=1)


def update_of(client: int, seed: int) -> np.ndarray:
    """Client ``client``'s model update (test data the server can recompute to check)."""
    return np.random.default_rng([seed, client]).normal(0, 0.2, DIM).astype(np.float32)


# --- a client process ----------------------------------------------------------------


def run_client(backend: str, clients: int, client_id: int, port: int, seed: int) -> int:
    config = make_config(backend, clients)
    protected = encode_weighted(update_of(client_id, seed), 1, config.quantization)
    party: Any
    if backend in ("secagg", "secagg+"):
        party = MaskingClient(config, client_id, protected)
    elif backend == "paillier":
        party = PaillierClient(config, client_id, protected)
    else:
        party = PlainClient(config, client_id, protected)
    token = sys.stdin.buffer.read(TOKEN_BYTES)  # from the parent, never on the command line
    with socket.create_connection((HOST, port)) as sock:
        send_frame(sock, _HELLO.pack(client_id, token))  # who this connection is
        first = party.start()
        if first is not None:
            send_frame(sock, first)
        while (message := recv_frame(sock)) is not None:
            try:
                reply = party.handle(message)
            except secagg.SecAggError as exc:  # a refusal: this client stops
                print(f"client {client_id} refused: {exc}", file=sys.stderr)
                return 1
            if reply is not None:
                send_frame(sock, reply)
    return 0


# --- the server process: the transport loop ------------------------------------------


def run_server(args: argparse.Namespace) -> dict[str, Any]:
    config = make_config(args.backend, args.clients)
    server: Any = {
        "secagg": MaskingServer,
        "secagg+": MaskingServer,
        "paillier": PaillierServer,
        "plain": PlainServer,
    }[args.backend](config)
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    tokens = {c: secrets.token_bytes(TOKEN_BYTES) for c in range(1, args.clients + 1)}
    procs = {}
    for c, token in tokens.items():
        command = [sys.executable, __file__, "client", args.backend, str(args.clients), str(c)]
        procs[c] = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [*command, str(port), str(args.seed)], stdin=subprocess.PIPE
        )
        pipe = procs[c].stdin
        if pipe is not None:
            pipe.write(token)  # the secret never appears on a command line
            pipe.close()
    conns: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    refused: dict[int, str] = {}
    try:
        listener.settimeout(30)
        while len(conns) < args.clients:
            conn, _ = listener.accept()
            cid = _authenticate(recv_frame(conn), tokens, conns)
            if cid is None:  # unknown, already connected, or a wrong secret
                conn.close()
                continue
            conns[cid] = conn
            selector.register(conn, selectors.EVENT_READ, cid)
        stage = 0
        while not server.finished:
            _collect(server, selector, conns, refused, deadline=time.monotonic() + args.deadline)
            outbox = server.close()
            stage += 1
            if stage == args.kill_after_stage and args.kill in procs:
                procs[args.kill].kill()  # vanishes mid-round, without a word
            for cid, data in outbox.items():
                if cid in conns:
                    try:
                        send_frame(conns[cid], data)
                    except OSError:
                        _forget(cid, selector, conns)
        result = server.result
    finally:
        for conn in conns.values():
            conn.close()
        listener.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    survivors = list(result.survivors)
    mean = decode_weighted(result.aggregate, config.quantization).mean
    plain = np.mean([update_of(c, args.seed) for c in survivors], axis=0, dtype=np.float64)
    error = float(np.max(np.abs(mean - plain)))
    return {
        "backend": args.backend,
        "clients": args.clients,
        "killed": args.kill,
        "survivors": survivors,
        "dropped": list(result.dropped),
        "refused": refused,
        "max_abs_error": error,
        "bound": quantization_error_bound(config.quantization),
        "ok": error <= quantization_error_bound(config.quantization),
    }


def _authenticate(
    hello: bytes | None, tokens: dict[int, bytes], conns: dict[int, socket.socket]
) -> int | None:
    """The client id a connection proved it is, or None."""
    if hello is None or len(hello) != _HELLO.size:
        return None
    cid, token = _HELLO.unpack(hello)
    if cid not in tokens or cid in conns or not hmac.compare_digest(token, tokens[cid]):
        return None
    return int(cid)


def _collect(
    server: Any,
    selector: selectors.BaseSelector,
    conns: dict[int, socket.socket],
    refused: dict[int, str],
    deadline: float,
) -> None:
    """Deliver client messages until the stage waits for no connected client, or the
    deadline passes."""
    while True:
        status = server.waiting()
        waiting_for = status.pending & set(conns)
        if not waiting_for or time.monotonic() >= deadline:
            return
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            cid = key.data
            data = recv_frame(key.fileobj)  # type: ignore[arg-type]
            if data is None:  # the client process is gone
                _forget(cid, selector, conns)
                continue
            try:
                server.receive(cid, data)  # the sender is the connection, not the header
            except secagg.SecAggError as exc:
                refused[cid] = str(exc)


def _forget(cid: int, selector: selectors.BaseSelector, conns: dict[int, socket.socket]) -> None:
    selector.unregister(conns[cid])
    conns.pop(cid).close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:
        backend, clients, cid, port, seed = argv[1], *map(int, argv[2:6])
        return run_client(backend, clients, cid, port, seed)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend", choices=["secagg", "secagg+", "paillier", "plain"], default="secagg+"
    )
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--kill", type=int, default=3, help="the client killed mid-round")
    parser.add_argument(
        "--kill-after-stage",
        type=int,
        default=2,
        help="kill it after the server closes this many stages",
    )
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run_server(args)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{args.backend}: survivors {report['survivors']}, dropped {report['dropped']}, "
            f"max |mean - plain mean| {report['max_abs_error']:.2e} "
            f"(bound {report['bound']:.2e}): {'OK' if report['ok'] else 'FAILED'}"
        )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
