"""Hot reload latency and webhook intake throughput, each beside its peer, in one run.

Reload: the time from a file save to the new plan being live in `aios dev`'s reloader (the real
watcher on a thread, in this process), over N edits of a playbook, on a copy of the example workspace
and on a generated 500-playbook workspace. Peer: what the operator would do without hot reload,
restart — a cold `aios validate` process on the same workspace (start-up plus a full compile).

Webhook intake: a load generator on loopback (keep-alive connections, signed JSON bodies, bounded in
count and time) against a real `aios serve` process (events verified, normalized and committed to the
journal before the 202), and against a bare ASGI handler that does no work (same uvicorn, same
generator). Peer ratio: ours / bare.

    python bench/reload.py [--edits 50] [--edits-500 50] [--requests 3000] [--seconds 15] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import queue
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

SECRET = "bench-webhook-secret"
SECRET_ENV = "AIOS_BENCH_WEBHOOK_SECRET"
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


# -- reload latency ------------------------------------------------------------------------------

def copy_example(dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "aios.yaml", dest / "aios.yaml")
    for folder in ("playbooks", "connectors", "policies", "prompts", "schema"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def reload_latencies(ws: Path, target: Path, edits: int) -> list[float]:
    """Edit ``target`` ``edits`` times; for each, seconds from the save to the swap."""
    from aios.live.console import Console
    from aios.live.current import CurrentPlan
    from aios.live.reload import STEP_MS, Reloader

    failures: list[str] = []
    reloader = Reloader(ws, None, Console(io.StringIO()), step_ms=STEP_MS,
                        on_report=lambda r: failures.append(r.status_line()) if r.result == "failed" else None)
    first = reloader.compile()
    if first.plan is None:
        raise SystemExit(f"{ws} does not compile: {first.diagnostics[:3]}")
    current = CurrentPlan(first.plan)
    reloader.current = current
    swaps: queue.SimpleQueue[tuple[float, str]] = queue.SimpleQueue()
    current.on_swap(lambda old, new: swaps.put((time.perf_counter(), new.content_hash)))
    stop = threading.Event()
    watcher = threading.Thread(target=reloader.watch, args=(stop,), daemon=True)
    watcher.start()
    original = target.read_text()
    marker = "description: "
    assert marker in original, target
    out: list[float] = []
    try:
        for i in range(edits + 3):  # the first edits also wait for the watcher to be registered
            text = original.replace(marker, f"{marker}Edit {i} - ", 1)
            saved = time.perf_counter()
            target.write_text(text)
            try:
                at, _ = swaps.get(timeout=60 if i >= 3 else 5)
            except queue.Empty:
                if failures:
                    raise SystemExit(f"the edit broke the workspace: {failures[-1]}") from None
                if i < 3:
                    continue
                raise SystemExit(f"no reload after edit {i} of {target}") from None
            if i >= 3:
                out.append(at - saved)
            time.sleep(0.02)
    finally:
        stop.set()
        watcher.join(timeout=10)
    return out


def restart_seconds(ws: Path, repeat: int) -> float:
    """The peer: a cold process compiling the workspace (what a restart costs before serving)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "aios", "validate", str(ws)], capture_output=True, env=env)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout.decode()[-2000:])
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- webhook intake ------------------------------------------------------------------------------

def bare_app_main() -> None:
    """``python bench/reload.py --bare-server``: uvicorn with an ASGI handler that does no work."""
    import socket

    import uvicorn

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"17")]})
        await send({"type": "http.response.body", "body": b'{"accepted":true}'})

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            date_header=False)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str]) -> Iterator[int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        port = None
        for line in proc.stdout:
            m = _LISTENING.search(line)
            if m:
                port = int(m.group(1))
                break
            if time.monotonic() > deadline:
                break
        if port is None:
            raise SystemExit(f"server did not start: {' '.join(cmd)}")
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def requests_for(count: int, prefix: str) -> list[bytes]:
    from aios.live.webhooks import sign

    out = []
    for i in range(count):
        body = json.dumps({"id": f"{prefix}-{i}", "payload": {"n": i, "note": "a small order event"}}).encode()
        head = (f"POST /hooks/bench HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                f"x-aios-signature: {sign(SECRET, body)}\r\ncontent-length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


async def _client(port: int, reqs: list[bytes], next_index: list[int], deadline: float, codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            i = next_index[0]
            if i >= len(reqs):
                break
            next_index[0] = i + 1
            writer.write(reqs[i])
            await writer.drain()
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            codes[status] = codes.get(status, 0) + 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def load(port: int, reqs: list[bytes], concurrency: int, seconds: float) -> tuple[float, dict[int, int]]:
    async def run() -> tuple[float, dict[int, int]]:
        codes: dict[int, int] = {}
        index = [0]
        start = time.perf_counter()
        await asyncio.gather(*(_client(port, reqs, index, start + seconds, codes) for _ in range(concurrency)))
        return time.perf_counter() - start, codes

    return asyncio.run(run())


def webhook_throughput(tmp: Path, count: int, seconds: float, concurrency: int) -> dict[str, float]:
    ws = copy_example(tmp / "intake")
    text = (ws / "aios.yaml").read_text().replace("secrets:\n", f"secrets:\n  webhook_bench: {{env: {SECRET_ENV}}}\n", 1)
    (ws / "aios.yaml").write_text(text)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", SECRET_ENV: SECRET}
    warm = requests_for(200, "warm")
    reqs = requests_for(count, "run")
    results: dict[str, float] = {}
    with process([sys.executable, str(Path(__file__).resolve()), "--bare-server"], env) as port:
        load(port, warm, concurrency, seconds)
        took, codes = load(port, reqs, concurrency, seconds)
        results["bare_asgi_events_per_s"] = codes.get(202, 0) / took
    with process([sys.executable, "-m", "aios", "serve", "--port", "0", "-w", str(ws)], env) as port:
        load(port, warm, concurrency, seconds)
        took, codes = load(port, reqs, concurrency, seconds)
        results["webhook_events_per_s"] = codes.get(202, 0) / took
        results["webhook_accepted"] = codes.get(202, 0)
        results["webhook_refused"] = sum(v for k, v in codes.items() if k != 202)
    conn = sqlite3.connect(ws / ".aios" / "state.db")
    try:
        stored = conn.execute("SELECT count(*) FROM live_events WHERE id LIKE 'run-%'").fetchone()[0]
    finally:
        conn.close()
    if stored != results["webhook_accepted"]:
        raise SystemExit(f"{results['webhook_accepted']} accepted but {stored} in the journal")
    results["webhook_stored"] = stored
    results["webhook_ratio"] = results["webhook_events_per_s"] / results["bare_asgi_events_per_s"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=50, help="edits on the example workspace")
    parser.add_argument("--edits-500", type=int, default=50, help="edits on the 500-playbook workspace")
    parser.add_argument("--requests", type=int, default=3000, help="webhook requests per server (upper bound)")
    parser.add_argument("--seconds", type=float, default=15.0, help="time bound per webhook load run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_app_main()
        return
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from validate import make_workspace

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        example = copy_example(tmp / "example")
        lat = reload_latencies(example, example / "playbooks" / "support-triage.yaml", args.edits)
        restart = restart_seconds(example, 3)
        big = tmp / "big"
        make_workspace(big, 500)
        lat500 = reload_latencies(big, big / "playbooks" / "pipeline-0250.yaml", args.edits_500)
        restart500 = restart_seconds(big, 3)
        intake = webhook_throughput(tmp, args.requests, args.seconds, args.concurrency)
    report = {
        "p50_ms": round(pct(lat, 0.5) * 1000, 1),
        "p95_ms": round(pct(lat, 0.95) * 1000, 1),
        "p50_ms_500": round(pct(lat500, 0.5) * 1000, 1),
        "p95_ms_500": round(pct(lat500, 0.95) * 1000, 1),
        "edits": len(lat),
        "edits_500": len(lat500),
        "restart_ms": round(restart * 1000, 1),
        "restart_ms_500": round(restart500 * 1000, 1),
        "reload_ratio": round(pct(lat, 0.5) / restart, 3),
        "reload_ratio_500": round(pct(lat500, 0.5) / restart500, 3),
        "webhook_events_per_s": round(intake["webhook_events_per_s"], 1),
        "bare_asgi_events_per_s": round(intake["bare_asgi_events_per_s"], 1),
        "ratio": round(intake["webhook_ratio"], 3),
        "webhook_accepted": int(intake["webhook_accepted"]),
        "webhook_stored": int(intake["webhook_stored"]),
        "webhook_refused": int(intake["webhook_refused"]),
        "concurrency": args.concurrency,
        "peers": "reload: cold `aios validate` process (a restart); webhooks: bare ASGI handler on the same uvicorn",
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"reload, example workspace ({report['edits']} edits): p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms"
          f"   restart {report['restart_ms']} ms   ratio {report['reload_ratio']}")
    print(f"reload, 500 playbooks ({report['edits_500']} edits): p50 {report['p50_ms_500']} ms, "
          f"p95 {report['p95_ms_500']} ms   restart {report['restart_ms_500']} ms   ratio {report['reload_ratio_500']}")
    print(f"webhook intake: {report['webhook_events_per_s']} events/s accepted durably "
          f"({report['webhook_stored']} stored)   bare ASGI {report['bare_asgi_events_per_s']} req/s   "
          f"ratio {report['ratio']}")


if __name__ == "__main__":
    main()
