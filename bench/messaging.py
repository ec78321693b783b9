"""Messaging delivery throughput and end-to-end latency, PTAP against a bare Socket.IO server.

Starts the servers itself on a throwaway SQLite database: `ptap run` as one process, and as two
processes sharing a Redis message queue; the reference is a bare `socketio.Server(
async_mode="threading")` whose handler only emits to a room, served the same way (Werkzeug
threaded server, simple-websocket), also as one process and two over Redis.

Load: C asyncio `socketio.AsyncClient`s (websocket transport, spread round-robin over the
server processes) connect to /messaging with a bearer token and `join` one team conversation.
S of them (the senders) each send M messages closed-loop (the next after the ack of the
previous one); the body carries the send time; every client stamps `message_created` on
arrival. Throughput = deliveries / (last arrival - first send); latency = arrival - send, over
all deliveries (clients and senders share this process, so one clock). All clients run in this
one process: at high C it is part of what is measured (the same for both servers).

    .venv/bin/pip install aiohttp        # the asyncio client's transport
    .venv/bin/python bench/messaging.py --clients 50,200,500 --senders 4 --messages 25
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAMESPACE = "/messaging"


# --- the bare reference server ---------------------------------------------------------------


def serve_bare(port: int, redis_url: str | None) -> None:
    """A minimal python-socketio server: `join` enters a room, `send_message` emits to it."""
    import socketio
    from werkzeug.serving import run_simple

    manager = socketio.RedisManager(redis_url, channel="bench-bare") if redis_url else None
    sio = socketio.Server(async_mode="threading", client_manager=manager)

    @sio.on("join", namespace=NAMESPACE)
    def join(sid, data):  # noqa: ANN001, ANN202
        sio.enter_room(sid, f"thread:{data['conversation_id']}", namespace=NAMESPACE)
        return {"ok": True}

    @sio.on("send_message", namespace=NAMESPACE)
    def send_message(sid, data):  # noqa: ANN001, ANN202
        room = f"thread:{data['conversation_id']}"
        sio.emit("message_created", {"body": data["body"]}, to=room, namespace=NAMESPACE)
        return {"ok": True}

    def app(environ, start_response):  # noqa: ANN001, ANN202
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return wsgi(environ, start_response)

    wsgi = socketio.WSGIApp(sio)
    run_simple("127.0.0.1", port, app, threaded=True)


# --- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(folder: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env.update(
        PTAP_ENV="development",
        PTAP_DATABASE_URL=f"sqlite:///{folder / 'ptap.sqlite3'}",
        PTAP_SCHEDULER_IN_PROCESS="false",
        PTAP_UPLOAD_FOLDER=str(folder / "uploads"),
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["PTAP_SOCKETIO_MESSAGE_QUEUE"] = redis_url
    return env


def _start(cmd: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen:
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    _stop(process)
    raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_servers(kind: str, processes: int, folder: Path, redis_url: str | None):
    """Start `processes` servers of `kind` ("ptap" or "bare"); return (processes, urls)."""
    started, urls = [], []
    for i in range(processes):
        port = _free_port()
        log = folder / f"{kind}-{processes}-{i}.log"
        if kind == "ptap":
            cmd = [str(BIN / "ptap"), "run", "--port", str(port)]
            env = _env(folder, redis_url)
        else:
            cmd = [sys.executable, __file__, "--serve-bare", str(port)]
            cmd += ["--redis", redis_url] if redis_url else []
            env = dict(os.environ, PYTHONUNBUFFERED="1")
        started.append(_start(cmd, env, log, port))
        urls.append(f"http://127.0.0.1:{port}")
    return started, urls


# --- the PTAP database -----------------------------------------------------------------------


def seed(folder: Path, users: int) -> tuple[list[str], int]:
    """Migrate, create `users` clinicians in one team and its conversation; return tokens."""
    env = _env(folder, None)
    done = subprocess.run(
        [str(BIN / "ptap"), "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    sys.path.insert(0, str(ROOT))
    from ptap import create_app
    from ptap.accounts.services import create_api_token
    from ptap.audit.services import AuditContext
    from ptap.extensions import db
    from ptap.messaging import services
    from tests.factories import add_member, make_team, make_user

    app = create_app({"ENV": "testing", "DATABASE_URL": env["PTAP_DATABASE_URL"]})
    with app.app_context():
        team = make_team("Équipe bench messagerie")
        members = [make_user() for _ in range(users)]
        for user in members:
            add_member(team, user)
        conversation = services.get_or_create_team_conversation(members[0], team)
        ctx = AuditContext(actor_label="bench")
        scopes = ["socket", "api:read", "api:write"]
        tokens = [create_api_token(u, "bench", scopes, 1, ctx)[1] for u in members]
        db.session.commit()
        conversation_id = conversation.id
        db.session.remove()
        db.engine.dispose()
    return tokens, conversation_id


# --- load ------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    clients: int
    sent: int = 0
    expected: int = 0
    received: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    connect_seconds: float = 0.0
    error: str = ""

    @property
    def throughput(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


async def run_load(
    label: str,
    urls: list[str],
    tokens: list[str],
    conversation_id: int,
    clients: int,
    senders: int,
    messages: int,
    warmup: int,
) -> Result:
    import socketio

    result = Result(label, clients)
    arrivals: list[tuple[float, float]] = []  # (sent, received) for counted messages
    counted = asyncio.Event()
    state = {"expected": 0}
    conns: list[socketio.AsyncClient] = []

    def make(i: int) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)

        @client.on("message_created", namespace=NAMESPACE)
        async def _created(data):  # noqa: ANN001, ANN202
            now = time.perf_counter()
            body = data.get("body", "")
            if body.startswith("bench "):
                arrivals.append((float(body.split()[1]), now))
                if state["expected"] and len(arrivals) >= state["expected"]:
                    counted.set()

        return client

    semaphore = asyncio.Semaphore(25)

    async def connect(i: int) -> None:
        client = make(i)
        async with semaphore:
            await client.connect(
                urls[i % len(urls)],
                namespaces=[NAMESPACE],
                transports=["websocket"],
                auth={"token": tokens[i]},
                wait_timeout=30,
            )
            ack = await client.call(
                "join", {"conversation_id": conversation_id}, namespace=NAMESPACE, timeout=30
            )
            if not ack.get("ok"):
                raise RuntimeError(f"join refused: {ack}")
        conns.append(client)

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(connect(i) for i in range(clients)))
        result.connect_seconds = time.perf_counter() - t0
        sender_clients = conns[:senders]

        async def send(k: int, client: socketio.AsyncClient, n: int, tag: str) -> None:
            for j in range(n):
                body = f"{tag} {time.perf_counter():.6f} s{k} m{j}"
                ack = await client.call(
                    "send_message",
                    {
                        "conversation_id": conversation_id,
                        "client_id": f"{label}-{clients}-{tag}-{k}-{j}",
                        "body": body,
                    },
                    namespace=NAMESPACE,
                    timeout=60,
                )
                if not ack.get("ok"):
                    raise RuntimeError(f"send refused: {ack}")

        # warm-up (not counted: bodies do not start with "bench ")
        await asyncio.gather(*(send(k, c, warmup, "warm") for k, c in enumerate(sender_clients)))
        await asyncio.sleep(0.5)
        result.sent = senders * messages
        result.expected = state["expected"] = result.sent * clients
        start = time.perf_counter()
        await asyncio.gather(*(send(k, c, messages, "bench") for k, c in enumerate(sender_clients)))
        try:
            await asyncio.wait_for(counted.wait(), timeout=60)
        except TimeoutError:
            result.error = "timeout waiting for deliveries"
        result.received = len(arrivals)
        if arrivals:
            result.seconds = max(r for _, r in arrivals) - start
            result.latencies = [r - s for s, r in arrivals]
    except Exception as exc:  # noqa: BLE001 - report and go on with the next case
        result.error = f"{type(exc).__name__}: {exc}"
        result.received = len(arrivals)
    finally:
        await asyncio.gather(*(c.disconnect() for c in conns), return_exceptions=True)
        await asyncio.sleep(1.0)
    return result


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="50,200,500", help="comma-separated client counts")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=25, help="per sender, counted")
    parser.add_argument("--warmup", type=int, default=3, help="per sender, not counted")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--only", default="ptap-1,ptap-2,bare-1,bare-2")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.redis if "--redis" in sys.argv else None)
        return

    sizes = [int(c) for c in args.clients.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="ptap-bench-messaging-"))
    print(f"folder {folder}; seeding {max(sizes)} users ...", flush=True)
    t = time.perf_counter()
    tokens, conversation_id = seed(folder, max(sizes))
    print(f"seeded in {time.perf_counter() - t:.1f} s", flush=True)

    results: list[Result] = []
    for label in args.only.split(","):
        kind, n = label.split("-")
        processes, urls = start_servers(kind, int(n), folder, args.redis if n == "2" else None)
        try:
            for c in sizes:
                res = asyncio.run(
                    run_load(
                        label,
                        urls,
                        tokens,
                        conversation_id,
                        c,
                        args.senders,
                        args.messages,
                        args.warmup,
                    )
                )
                results.append(res)
                print(
                    f"{label:7} C={c:4}: {res.throughput:9.0f} deliveries/s  p50 {res.pct(0.5):7.1f} ms"
                    f"  p99 {res.pct(0.99):7.1f} ms  {res.received}/{res.expected}"
                    f"  connect {res.connect_seconds:.1f} s {res.error}",
                    flush=True,
                )
        finally:
            for p in processes:
                _stop(p)

    print()
    print("| server | clients | messages | deliveries | deliveries/s | p50 ms | p99 ms | vs bare |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    bare = {
        (r.label.split("-")[1], r.clients): r.throughput
        for r in results
        if r.label.startswith("bare")
    }
    for r in results:
        ref = bare.get((r.label.split("-")[1], r.clients))
        ratio = f"{r.throughput / ref:.2f}" if ref and not r.label.startswith("bare") else ""
        print(
            f"| {r.label} | {r.clients} | {r.sent} | {r.received}/{r.expected} | {r.throughput:.0f}"
            f" | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | {ratio} |"
            + (f" {r.error}" if r.error else "")
        )
    one = [r for r in results if r.label == "ptap-1" and r.clients == 200]
    ref = bare.get(("1", 200))
    if one and ref:
        r = one[0]
        print(
            f"\ntargets at 200 clients, one process: throughput {r.throughput / ref:.2f} of bare"
            f" (>= 0.5: {'met' if r.throughput >= ref / 2 else 'NOT met'}), p99 {r.pct(0.99):.1f} ms"
            f" (< 100: {'met' if r.pct(0.99) < 100 else 'NOT met'})"
        )
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
