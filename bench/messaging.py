"""Messaging delivery throughput and end-to-end latency, PTAP against a bare Socket.IO server.

Starts the servers itself on a throwaway database (SQLite, or a database it creates and drops
on a PostgreSQL server with --postgres URL): `ptap run` as one process, and as two
processes sharing a Redis message queue; the reference is a bare `socketio.Server(
async_mode="threading")` whose handler only emits to a room, served the same way (Werkzeug
threaded server, simple-websocket), also as one process and two over Redis.

Load: C asyncio `socketio.AsyncClient`s (websocket transport, spread round-robin over the
server processes) connect to /messaging with a bearer token and `join` one team conversation;
every client stamps `message_created` on arrival. Then, on the same connections, two phases:

1. saturation (closed loop): S senders each send M messages, the next one after the ack of the
   previous one. Throughput = deliveries / (last arrival - first send). The latency of this
   phase is mostly queueing: the senders keep the servers saturated on purpose.
2. paced (open loop): the senders together send R messages per second for T seconds, on a
   fixed schedule that does not wait for acks: R = 10 messages/s, capped at 2,000
   deliveries/s (R x C), the same offered load for PTAP and the bare server, below both
   servers' saturation. Latency = arrival - scheduled send time (a late sender counts against
   the server, never for it).

Every timestamp is `time.perf_counter()` in this one process (clients and senders share it):
one clock. The cyclic GC of this process is off during the two phases (it would pause the loop
and charge the pause to the server). At high C the client side shares the CPUs and is part of
what is measured, for both servers alike.

    .venv/bin/pip install -e '.[bench]'      # aiohttp, the asyncio client's transport
    .venv/bin/python bench/messaging.py --clients 50,200,500 --repeat 3
    # --source DIR: run the PTAP servers from another checkout (`git worktree add`), for
    #               before/after figures; --profile DIR: per-thread CPU profiles (cProfile);
    # --gc-freeze: the PTAP servers call gc.freeze() before serving (docs/performance.md)
    # --stall-log: the PTAP servers log every GC collection (gc.callbacks) and every stall of
    #              the whole process (a 5-ms watchdog thread); the paced phase is summarised
    # --mark-read: the clients mark read as messaging.js does (one mark_read 1 s after a burst)
    #              and count the `read_receipts` frames they receive
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAMESPACE = "/messaging"
#: --mark-read: a client marks read this long after the last message of a burst (messaging.js).
MARK_READ_DELAY = 1.0


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

    @sio.on("mark_read", namespace=NAMESPACE)
    def mark_read(sid, data):  # noqa: ANN001, ANN202
        return {"ok": True}  # the reference stores no read state and sends no receipt

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


def _install_stall_log(path: str) -> None:
    """Log, as JSON lines with `time.perf_counter()` stamps (CLOCK_MONOTONIC: the same clock
    as the bench process), every cyclic-GC collection (generation, duration, objects
    collected) and every whole-process stall: a watchdog thread sleeps 5 ms and logs when it
    wakes more than 20 ms late (the GIL was held, or the process was not scheduled);
    `kill -USR1 <pid>` appends every thread's stack to `<path>.stacks`."""
    import gc
    import threading

    # No lock: a collection can start in the middle of a write (json.dumps allocates), and a
    # callback waiting for a lock its own thread holds would hang the process. deque.append
    # is atomic; a writer thread drains the records.
    records: collections.deque[dict] = collections.deque()
    started: dict[int, float] = {}

    def writer() -> None:
        with open(path, "a") as out:
            while True:
                time.sleep(0.2)
                while records:
                    out.write(json.dumps(records.popleft()) + "\n")
                out.flush()

    def on_gc(phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            started[threading.get_ident()] = now
            return
        begun = started.pop(threading.get_ident(), now)
        records.append(
            {
                "kind": "gc",
                "t": begun,
                "ms": round((now - begun) * 1000, 2),
                "gen": info.get("generation"),
                "collected": info.get("collected"),
            }
        )

    gc.callbacks.append(on_gc)
    # `kill -USR1 <pid>`: every thread's stack, for a server that stops answering.
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, file=open(path + ".stacks", "a"), all_threads=True)  # noqa: SIM115

    def watchdog() -> None:
        # Only a clock and a deque: an earlier version also called sys._current_frames() and
        # threading.enumerate() on each stall, and the server hung twice under load (both
        # take interpreter-wide locks that the ~600 socket threads also need). Stacks come
        # on demand instead (SIGUSR1, below).
        while True:
            before = time.perf_counter()
            time.sleep(0.005)
            late = time.perf_counter() - before - 0.005
            if late > 0.020:
                records.append({"kind": "stall", "t": before, "ms": round(late * 1000, 1)})

    threading.Thread(target=writer, name="stall-log-writer", daemon=True).start()
    threading.Thread(target=watchdog, name="stall-watchdog", daemon=True).start()


def read_stall_log(path: Path, start: float, end: float) -> dict[str, float | int]:
    """Summarise a stall log between two perf_counter instants: GC collections (count and
    longest, per generation) and the longest whole-process stall seen by the watchdog."""
    summary: dict[str, float | int] = {
        "gc0_max_ms": 0.0,
        "gc1_max_ms": 0.0,
        "gc2_max_ms": 0.0,
        "gc2_count": 0,
        "gc_total_ms": 0.0,
        "stall_max_ms": 0.0,
        "stalls_over_50ms": 0,
    }
    if not path.exists():
        return summary
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not start <= record["t"] <= end:
            continue
        if record["kind"] == "gc":
            key = f"gc{record['gen']}_max_ms"
            summary[key] = max(summary.get(key, 0.0), record["ms"])
            summary["gc_total_ms"] = round(summary["gc_total_ms"] + record["ms"], 1)
            if record["gen"] == 2:
                summary["gc2_count"] += 1
        else:
            summary["stall_max_ms"] = max(summary["stall_max_ms"], record["ms"])
            if record["ms"] > 50:
                summary["stalls_over_50ms"] += 1
    return summary


def serve_ptap(
    port: int, profile_out: str | None, gc_freeze: bool, stall_log: str | None = None
) -> None:
    """`ptap run`, with three options for investigation.

    stall_log: every GC collection and every whole-process stall, logged (`_install_stall_log`).

    profile_out: every thread under cProfile, timed by that thread's own CPU clock (so a frame
    still running at exit is charged its CPU, not the main thread's); on SIGTERM the profiles
    are merged into `profile_out` (read it with `python -m pstats`).
    gc_freeze: `gc.freeze()` just before serving, so the cyclic GC's full collections no longer
    walk the ~200,000 objects of the loaded application (a full collection otherwise stops
    every thread for 100-150 ms here).
    """
    import cProfile
    import gc
    import pstats
    import signal
    import threading

    from ptap.extensions import socketio

    if stall_log:
        _install_stall_log(stall_log)
    if gc_freeze:
        plain_serve = socketio.run

        def run_frozen(*args: object, **kwargs: object) -> None:
            gc.collect()
            gc.freeze()
            plain_serve(*args, **kwargs)

        socketio.run = run_frozen
    if profile_out:
        profiles: list[cProfile.Profile] = []
        plain_run = threading.Thread.run

        def thread_clock() -> object:
            clock = time.pthread_getcpuclockid(threading.get_ident())
            return lambda: time.clock_gettime(clock)

        def run(self: threading.Thread) -> None:
            profile = cProfile.Profile(thread_clock())  # type: ignore[arg-type]
            profiles.append(profile)
            profile.enable()
            try:
                plain_run(self)
            finally:
                profile.disable()

        def dump(*_: object) -> None:
            merged = None
            for profile in profiles:
                try:
                    stats = pstats.Stats(profile)
                except TypeError:  # nothing recorded
                    continue
                merged = stats if merged is None else merged.add(stats)
            if merged is not None:
                merged.dump_stats(profile_out)
            os._exit(0)

        threading.Thread.run = run  # type: ignore[method-assign]
        signal.signal(signal.SIGTERM, dump)
    sys.argv = ["ptap", "run", "--port", str(port)]
    from ptap.cli import main

    main()


# --- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(
    folder: Path,
    redis_url: str | None,
    source: Path = ROOT,
    db_url: str = "",
    scheduler: str = "none",
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env.update(
        PTAP_ENV="development",
        PTAP_DATABASE_URL=db_url or f"sqlite:///{folder / 'ptap.sqlite3'}",
        # --scheduler in-process: the jobs run in the web process, as `ptap run` does by
        # default; none or separate: they do not (separate starts `ptap scheduler` beside it).
        PTAP_SCHEDULER_IN_PROCESS="true" if scheduler == "in-process" else "false",
        PTAP_UPLOAD_FOLDER=str(folder / "uploads"),
        PYTHONUNBUFFERED="1",
    )
    if source != ROOT:  # sys.path comes before the editable install's finder
        env["PYTHONPATH"] = str(source)
    if redis_url:
        env["PTAP_SOCKETIO_MESSAGE_QUEUE"] = redis_url
    return env


def _start(
    cmd: list[str], env: dict[str, str], log: Path, port: int, cwd: Path
) -> subprocess.Popen:
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
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


def _stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Servers:
    processes: list[subprocess.Popen]
    urls: list[str]
    profiled: bool = False
    stall_logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for p in self.processes:  # merging hundreds of thread profiles takes a while
            _stop(p, timeout=300 if self.profiled else 10)


def start_servers(
    kind: str, processes: int, folder: Path, redis_url: str | None, args: argparse.Namespace
) -> Servers:
    """Start `processes` servers of `kind` ("ptap" or "bare")."""
    started = Servers([], [], profiled=kind == "ptap" and bool(args.profile))
    for i in range(processes):
        port = _free_port()
        log = folder / f"{kind}-{processes}-{i}.log"
        cwd = ROOT
        if kind == "ptap":
            env = _env(folder, redis_url, args.source, args.db_url, args.scheduler)
            cwd = args.source
            cmd = [str(BIN / "ptap"), "run", "--port", str(port)]
            if args.profile or args.gc_freeze or args.stall_log:
                cmd = [sys.executable, __file__, "--serve-ptap", str(port)]
                cmd += ["--gc-freeze"] if args.gc_freeze else []
            if args.stall_log:
                stall_log = folder / f"{kind}-{processes}-{i}.stalls.jsonl"
                started.stall_logs.append(stall_log)
                cmd += ["--stall-log-path", str(stall_log)]
            if args.profile:
                out = Path(args.profile) / f"ptap-{processes}-{i}-{time.strftime('%H%M%S')}.pstats"
                cmd += ["--out", str(out)]
        else:
            cmd = [sys.executable, __file__, "--serve-bare", str(port)]
            cmd += ["--redis", redis_url] if redis_url else []
            env = dict(os.environ, PYTHONUNBUFFERED="1")
        started.processes.append(_start(cmd, env, log, port, cwd))
        started.urls.append(f"http://127.0.0.1:{port}")
    if kind == "ptap" and args.scheduler == "separate":  # the production shape: its own process
        log = folder / f"scheduler-{processes}.log"
        with log.open("ab") as out:
            started.processes.append(
                subprocess.Popen(
                    [str(BIN / "ptap"), "scheduler"],
                    env=_env(folder, redis_url, args.source, args.db_url, "separate"),
                    cwd=args.source,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    return started


# --- the PTAP database -----------------------------------------------------------------------


def create_database(server_url: str) -> tuple[str, str]:
    """Create a throwaway PostgreSQL database on `server_url`; return (its URL, its name)."""
    import psycopg

    name = f"ptap_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # name: digits only, no input
    return server_url.rsplit("/", 1)[0] + "/" + name, name


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def seed(folder: Path, users: int, db_url: str = "") -> tuple[list[str], int]:
    """Migrate, create `users` clinicians in one team and its conversation; return tokens."""
    env = _env(folder, None, ROOT, db_url)
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


def pct(data: list[float], q: float) -> float:
    """Return the q-quantile of `data` in milliseconds (nearest rank)."""
    if not data:
        return float("nan")
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Phase:
    sent: int = 0
    expected: int = 0
    received: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    lags: list[float] = field(default_factory=list, repr=False)
    rate: float = 0.0  # messages/s offered (paced phase)
    #: --windows: p99 (ms) of each consecutive window of --paced-seconds (by scheduled time).
    windows: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def throughput(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float | int | str]:
        return {
            "sent": self.sent,
            "expected": self.expected,
            "received": self.received,
            "deliveries_per_s": round(self.throughput),
            "rate_msgs_per_s": self.rate,
            "p50_ms": round(pct(self.latencies, 0.50), 1),
            "p90_ms": round(pct(self.latencies, 0.90), 1),
            "p99_ms": round(pct(self.latencies, 0.99), 1),
            "max_ms": round(pct(self.latencies, 1.0), 1),
            "sender_lag_p99_ms": round(pct(self.lags, 0.99), 1),
            "window_p99_ms": [round(w, 1) for w in self.windows],
            "error": self.error,
        }


@dataclass
class Result:
    run: int
    label: str
    clients: int
    connect_seconds: float = 0.0
    saturation: Phase = field(default_factory=Phase)
    paced: Phase = field(default_factory=Phase)
    #: perf_counter instants of the paced phase (for the servers' stall logs).
    paced_window: tuple[float, float] = (0.0, 0.0)
    #: --stall-log: GC collections and whole-process stalls of the servers in the paced phase.
    stalls: dict[str, float | int] = field(default_factory=dict)
    #: --mark-read: mark_read sent by the clients, and receipt frames they received.
    mark_reads: int = 0
    receipt_frames: int = 0
    error: str = ""


async def run_load(
    result: Result, urls: list[str], tokens: list[str], conversation_id: int, args
) -> Result:
    import socketio

    clients = result.clients
    arrivals: dict[str, list[tuple[float, float]]] = {"bench": [], "paced": []}
    waiting: dict[str, tuple[int, asyncio.Event]] = {}
    conns: list[socketio.AsyncClient] = []

    def make() -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        read: dict[str, object] = {"seq": 0, "timer": None}

        async def mark_read_later() -> None:
            # As messaging.js does: one mark_read a second after a burst, for its last message.
            await asyncio.sleep(MARK_READ_DELAY)
            read["timer"] = None
            result.mark_reads += 1
            await client.emit(
                "mark_read",
                {"conversation_id": conversation_id, "seq": read["seq"]},
                namespace=NAMESPACE,
            )

        @client.on("read_receipts", namespace=NAMESPACE)
        async def _receipts(data):  # noqa: ANN001, ANN202
            result.receipt_frames += 1

        @client.on("message_created", namespace=NAMESPACE)
        async def _created(data):  # noqa: ANN001, ANN202
            now = time.perf_counter()
            if args.mark_read:
                read["seq"] = max(int(read["seq"]), int(data.get("seq") or 0))
                if read["timer"] is None:
                    read["timer"] = asyncio.ensure_future(mark_read_later())
            tag, _, rest = data.get("body", "").partition(" ")
            if tag in arrivals:
                got = arrivals[tag]
                got.append((float(rest.split(" ", 1)[0]), now))
                if tag in waiting and len(got) >= waiting[tag][0]:
                    waiting[tag][1].set()

        return client

    semaphore = asyncio.Semaphore(25)

    async def connect(i: int) -> None:
        client = make()
        async with semaphore:
            await client.connect(
                urls[i % len(urls)],
                namespaces=[NAMESPACE],
                transports=["websocket"],
                auth={"token": tokens[i]},
                wait_timeout=30,
            )
            conns.append(client)
            ack = await client.call(
                "join", {"conversation_id": conversation_id}, namespace=NAMESPACE, timeout=30
            )
            if not ack.get("ok"):
                raise RuntimeError(f"join refused: {ack}")

    def message(k: int, j: int, tag: str, stamp: float) -> dict:
        return {
            "conversation_id": conversation_id,
            "client_id": f"{result.label}-{clients}-{result.run}-{tag}-{k}-{j}",
            "body": f"{tag} {stamp:.6f} s{k} m{j}",
        }

    async def closed_loop(k: int, client: socketio.AsyncClient, n: int, tag: str) -> None:
        for j in range(n):
            data = message(k, j, tag, time.perf_counter())
            ack = await client.call("send_message", data, namespace=NAMESPACE, timeout=60)
            if not ack.get("ok"):
                raise RuntimeError(f"send refused: {ack}")

    async def wait_for(tag: str, expected: int, timeout: float) -> str:
        event = asyncio.Event()
        waiting[tag] = (expected, event)
        if len(arrivals[tag]) >= expected:
            return ""
        try:
            await asyncio.wait_for(event.wait(), timeout=timeout)
        except TimeoutError:
            return f"timeout: {len(arrivals[tag])}/{expected} deliveries"
        return ""

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(connect(i) for i in range(clients)))
        result.connect_seconds = time.perf_counter() - t0
        # The load generator must not pause: a full collection of this process (500 clients)
        # stops the loop for 100+ ms and would be charged to whichever server is measured.
        gc.collect()
        gc.freeze()
        gc.disable()
        senders = conns[: args.senders]

        # warm-up (not counted: its bodies start with "warm")
        await asyncio.gather(
            *(closed_loop(k, c, args.warmup, "warm") for k, c in enumerate(senders))
        )
        await asyncio.sleep(0.5)

        # 1. saturation: closed loop, as fast as the acks come back
        sat = result.saturation
        sat.sent = len(senders) * args.messages
        sat.expected = sat.sent * clients
        start = time.perf_counter()
        await asyncio.gather(
            *(closed_loop(k, c, args.messages, "bench") for k, c in enumerate(senders))
        )
        sat.error = await wait_for("bench", sat.expected, 60)
        got = arrivals["bench"]
        sat.received = len(got)
        if got:
            sat.seconds = max(r for _, r in got) - start
            sat.latencies = [r - s for s, r in got]
        await asyncio.sleep(1.0)

        # 2. paced: open loop on a fixed schedule, latency from the scheduled time
        paced = result.paced
        paced.rate = round(min(args.paced_rate, args.paced_deliveries / clients), 2)
        paced.sent = max(1, round(paced.rate * args.paced_seconds * args.windows))
        paced.expected = paced.sent * clients
        refused: list[dict] = []
        origin = time.perf_counter() + 0.2
        receipts_before = result.receipt_frames

        async def open_loop(k: int, client: socketio.AsyncClient) -> None:
            for j in range(k, paced.sent, len(senders)):
                due = origin + j / paced.rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                paced.lags.append(time.perf_counter() - due)
                await client.emit(
                    "send_message",
                    message(k, j, "paced", due),
                    namespace=NAMESPACE,
                    callback=lambda ack: refused.append(ack) if not ack.get("ok") else None,
                )

        await asyncio.gather(*(open_loop(k, c) for k, c in enumerate(senders)))
        paced.error = await wait_for("paced", paced.expected, 60)
        if refused:
            paced.error += f" {len(refused)} sends refused: {refused[0]}"
        got = arrivals["paced"]
        paced.received = len(got)
        if got:
            paced.seconds = max(r for _, r in got) - origin
            paced.latencies = [r - s for s, r in got]
            by_window: dict[int, list[float]] = collections.defaultdict(list)
            for sent_at, arrived in got:
                by_window[int((sent_at - origin) / args.paced_seconds)].append(arrived - sent_at)
            paced.windows = [pct(by_window[w], 0.99) for w in sorted(by_window)]
        result.paced_window = (origin, origin + paced.seconds)
        if args.mark_read:
            await asyncio.sleep(MARK_READ_DELAY + 1.0)  # the last receipts
            result.receipt_frames -= receipts_before
    except Exception as exc:  # noqa: BLE001 - report and go on with the next case
        result.error = f"{type(exc).__name__}: {exc} ({len(conns)}/{clients} connected)"
    finally:
        gc.enable()
        gc.unfreeze()
        await asyncio.gather(*(c.disconnect() for c in conns), return_exceptions=True)
        await asyncio.sleep(1.0)
    return result


# --- report ----------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"  # noqa: PLR0124 - NaN


def report(results: list[Result], args: argparse.Namespace) -> None:
    """Print one markdown row per run, then the spread over the runs, then the targets."""
    bare = {
        (r.run, r.label.split("-")[1], r.clients): r.saturation.throughput
        for r in results
        if r.label.startswith("bare")
    }

    def ratio(r: Result) -> float:
        ref = bare.get((r.run, r.label.split("-")[1], r.clients))
        return r.saturation.throughput / ref if ref and r.label.startswith("ptap") else float("nan")

    print(
        f"\nsaturation: {args.senders} closed-loop senders x {args.messages} messages;"
        f" paced: {args.paced_rate:g} messages/s offered, at most"
        f" {args.paced_deliveries:g} deliveries/s, for {args.paced_seconds * args.windows:g} s;"
        f" PTAP on {'PostgreSQL' if args.postgres else 'SQLite'}"
        f"{', gc.freeze() before serving' if args.gc_freeze else ''}\n"
    )
    print(
        "| run | server | clients | connect s | sat. deliveries/s | vs bare | sat. p50 ms"
        " | sat. p99 ms | paced msg/s | paced p50 ms | paced p99 ms | paced max ms | lost |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s, p = r.saturation, r.paced
        lost = (s.expected - s.received) + (p.expected - p.received)
        print(
            f"| {r.run} | {r.label} | {r.clients} | {r.connect_seconds:.1f}"
            f" | {_fmt(s.throughput)} | {'' if ratio(r) != ratio(r) else f'{ratio(r):.2f}'}"
            f" | {_fmt(pct(s.latencies, 0.5))} | {_fmt(pct(s.latencies, 0.99))}"
            f" | {p.rate:g} | {_fmt(pct(p.latencies, 0.5))} | {_fmt(pct(p.latencies, 0.99))}"
            f" | {_fmt(pct(p.latencies, 1.0))} | {lost} |"
            + " ".join(e for e in (r.error, s.error, p.error) if e)
        )
    runs = sorted({r.run for r in results})
    if len(runs) > 1:
        print("\nspread over the runs (min / median / max):\n")
        print("| server | clients | sat. deliveries/s | vs bare | paced p50 ms | paced p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for label in dict.fromkeys(r.label for r in results):
            for c in dict.fromkeys(r.clients for r in results):
                group = [r for r in results if r.label == label and r.clients == c]

                def spread(values: list[float], fmt=_fmt) -> str:
                    values = [v for v in values if v == v]
                    if not values:
                        return ""
                    return " / ".join(
                        fmt(v) for v in (min(values), statistics.median(values), max(values))
                    )

                print(
                    f"| {label} | {c} | {spread([r.saturation.throughput for r in group])}"
                    f" | {spread([ratio(r) for r in group], lambda v: f'{v:.2f}')}"
                    f" | {spread([pct(r.paced.latencies, 0.5) for r in group])}"
                    f" | {spread([pct(r.paced.latencies, 0.99) for r in group])} |"
                )
    one = [r for r in results if r.label == "ptap-1" and r.clients == 200 and not r.error]
    if one:
        ratios = [ratio(r) for r in one if ratio(r) == ratio(r)]
        windows = [w for r in one for w in (r.paced.windows or [pct(r.paced.latencies, 0.99)])]
        connect = {
            (r.run, r.label.split("-")[1], r.clients): r.connect_seconds
            for r in results
            if r.label.startswith("bare")
        }
        connect_ratios = [
            r.connect_seconds / connect[(r.run, "1", 200)]
            for r in one
            if connect.get((r.run, "1", 200))
        ]
        two = {r.run: r.saturation.throughput for r in results if r.label == "ptap-2"}
        scale = [two[r.run] / r.saturation.throughput for r in one if r.run in two]
        print(
            "\nissue 18 targets at 200 clients, one process:"
            f" throughput {', '.join(f'{x:.2f}' for x in ratios)} of bare"
            f" (median {statistics.median(ratios) if ratios else float('nan'):.2f}; >= 0.7,"
            " none < 0.6);"
            f" paced p99 of every window < 100 ms: worst {max(windows):.0f} ms over"
            f" {len(windows)} windows;"
            f" connect + join {', '.join(f'{x:.1f}' for x in connect_ratios)}x bare (<= 2)"
            + (
                f"; two processes {', '.join(f'{x:.2f}' for x in scale)}x one (>= 1.5)"
                if scale
                else ""
            )
        )


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="50,200,500", help="comma-separated client counts")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=25, help="per sender, saturation phase")
    parser.add_argument("--warmup", type=int, default=3, help="per sender, not counted")
    parser.add_argument(
        "--paced-rate", type=float, default=10, help="paced phase: messages/s offered"
    )
    parser.add_argument(
        "--paced-deliveries",
        type=float,
        default=2000,
        help="paced phase: at most this many deliveries/s (messages/s x clients)",
    )
    parser.add_argument("--paced-seconds", type=float, default=10, help="one paced window")
    parser.add_argument(
        "--windows",
        type=int,
        default=1,
        help="paced phase: this many consecutive windows of --paced-seconds, p99 of each",
    )
    parser.add_argument(
        "--scheduler",
        choices=("none", "in-process", "separate"),
        default="none",
        help="PTAP's jobs: not run (default), in the web process (`ptap run`'s default),"
        " or in a separate `ptap scheduler` process (the production shape)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs, servers interleaved")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--only", default="ptap-1,ptap-2,bare-1,bare-2")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run PTAP on a throwaway database of this PostgreSQL server (default: SQLite)",
    )
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout to run PTAP from")
    parser.add_argument("--profile", metavar="DIR", help="profile the PTAP servers into DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="PTAP servers call gc.freeze() before serving (ptap run now does it itself)",
    )
    parser.add_argument(
        "--stall-log",
        action="store_true",
        help="PTAP servers log every GC collection and whole-process stall; per-run summary",
    )
    parser.add_argument(
        "--mark-read",
        action="store_true",
        help="clients mark read as messaging.js does (debounced, 1 s after a burst)",
    )
    parser.add_argument("--serve-ptap", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--stall-log-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.redis if "--redis" in sys.argv else None)
        return
    if args.serve_ptap:
        serve_ptap(args.serve_ptap, args.out, args.gc_freeze, args.stall_log_path)
        return
    args.source = args.source.resolve()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    sizes = [int(c) for c in args.clients.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="ptap-bench-messaging-"))
    args.db_url, db_name = create_database(args.postgres) if args.postgres else ("", "")
    print(
        f"folder {folder}; PTAP from {args.source} on {args.db_url or 'SQLite'};"
        f" seeding {max(sizes)} users ...",
        flush=True,
    )
    t = time.perf_counter()
    try:
        tokens, conversation_id = seed(folder, max(sizes), args.db_url)
        print(f"seeded in {time.perf_counter() - t:.1f} s", flush=True)
        results = run_all(args, sizes, folder, tokens, conversation_id)
    finally:
        if db_name:
            drop_database(args.postgres, db_name)

    report(results, args)
    if args.json:
        rows = [
            {
                **{k: v for k, v in asdict(r).items() if k not in ("saturation", "paced")},
                "saturation": r.saturation.summary(),
                "paced": r.paced.summary(),
            }
            for r in results
        ]
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def run_all(
    args: argparse.Namespace,
    sizes: list[int],
    folder: Path,
    tokens: list[str],
    conversation_id: int,
) -> list[Result]:
    """Run every case, `--repeat` times, the servers interleaved within each run."""
    results: list[Result] = []
    for run in range(1, args.repeat + 1):
        for label in args.only.split(","):
            kind, n = label.split("-")
            servers = start_servers(kind, int(n), folder, args.redis if n == "2" else None, args)
            try:
                for c in sizes:
                    res = asyncio.run(
                        run_load(Result(run, label, c), servers.urls, tokens, conversation_id, args)
                    )
                    results.append(res)
                    for log in servers.stall_logs:
                        one = read_stall_log(log, *res.paced_window)
                        for key, value in one.items():
                            res.stalls[key] = max(res.stalls.get(key, 0), value)
                    if res.stalls:
                        print(f"  stall log (paced phase, worst server): {res.stalls}", flush=True)
                    if args.mark_read:
                        print(
                            f"  mark-read: {res.mark_reads} mark_read sent (all phases),"
                            f" {res.receipt_frames} receipt frames received (paced phase)",
                            flush=True,
                        )
                    s, p = res.saturation, res.paced
                    print(
                        f"run {run} {label:7} C={c:4}: connect {res.connect_seconds:5.1f} s |"
                        f" saturation {s.throughput:6.0f} deliveries/s p50 {pct(s.latencies, 0.5):6.1f}"
                        f" p99 {pct(s.latencies, 0.99):7.1f} ms {s.received}/{s.expected} |"
                        f" paced {p.rate:g} msg/s p50 {pct(p.latencies, 0.5):6.1f}"
                        f" p99 {pct(p.latencies, 0.99):7.1f} ms {p.received}/{p.expected}"
                        f" {res.error} {s.error} {p.error}",
                        flush=True,
                    )
                    if len(p.windows) > 1:
                        print(
                            f"  paced p99 per {args.paced_seconds:g}-s window (ms): "
                            + ", ".join(f"{w:.0f}" for w in p.windows),
                            flush=True,
                        )
            finally:
                servers.stop()
    return results


if __name__ == "__main__":
    main()
