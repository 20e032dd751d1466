"""The cold start of a function binary, as Lambda's Runtime API sees it:
python3 coldstart.py ROUNDS ENV_FILE NAME=BINARY...

Each round starts every binary (interleaved) under a Runtime API of this script's own:
"init" is from the process's start to its first request for an invocation (Lambda's Init
Duration, less the sandbox's own setup), "first" is from handing it a scheduled tick to its
answer (the first invocation, with its first connections to the AWS stand-in)."""

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUNDS, ENV_FILE, BINARIES = int(sys.argv[1]), sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]

arrivals: "queue.Queue[tuple[str, float]]" = queue.Queue()

TICK = json.dumps({
    "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
    "account": "123456789012", "time": "1970-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
    "detail": {},
}).encode()


class RuntimeApi(BaseHTTPRequestHandler):
    handed = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        arrivals.put(("next", time.perf_counter()))
        if RuntimeApi.handed:
            time.sleep(30)  # the process is killed before another invocation matters
        RuntimeApi.handed = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(TICK)))
        self.end_headers()
        self.wfile.write(TICK)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        kind = "response" if self.path.endswith("/response") else "error"
        arrivals.put((kind, time.perf_counter(), body[:300]))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def environment():
    env = dict(os.environ)
    with open(ENV_FILE) as lines:
        for line in lines:
            if "=" in line:
                key, value = line.strip().split("=", 1)
                env[key] = value
    return env


def cold_start(binary, env):
    RuntimeApi.handed = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
           "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
           "AWS_LAMBDA_LOG_GROUP_NAME": "bench"}
    start = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kind, ready = arrivals.get(timeout=60)[:2]
        answer = arrivals.get(timeout=60)
        if answer[0] != "response":
            raise SystemExit(f"{binary}: the first invocation failed: {answer[2]!r}")
        return (ready - start) * 1000, (answer[1] - ready) * 1000
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
        while not arrivals.empty():
            arrivals.get()


def main():
    env = environment()
    figures = {name: {"init": [], "first": []} for name, _ in BINARIES}
    for _ in range(ROUNDS):
        for name, binary in BINARIES:
            init, first = cold_start(binary, env)
            figures[name]["init"].append(init)
            figures[name]["first"].append(first)
    print(f"{'binary':24} {'size MiB':>9} {'init min/median/max (ms)':>28} {'first invocation (ms)':>28}")
    for name, binary in BINARIES:
        size = os.path.getsize(binary) / 1024 / 1024
        cells = [
            "/".join(f"{v:.1f}" for v in (min(f), statistics.median(f), max(f)))
            for f in (figures[name]["init"], figures[name]["first"])
        ]
        print(f"{name:24} {size:9.1f} {cells[0]:>28} {cells[1]:>28}")
    if len(BINARIES) == 2:
        (a, _), (b, _) = BINARIES
        for what in ("init", "first"):
            ratio = statistics.median(figures[a][what]) / statistics.median(figures[b][what])
            print(f"{what}: {a} / {b} = {ratio:.2f}")


main()
