"""The server's CPU per execution: python3 serve_cpu.py ROUNDS BINARY [BINARY...].

Starts one `pipewright serve` per binary, and in each round (the binaries' order alternating)
sends 50 StartPipelineExecution requests of serve.sh's pipeline (its one action runs
`sleep 8`), then reads the server's own CPU time (user and system, /proc/<pid>/stat, its
children left out). Prints, per binary, the median and range over the rounds, per execution:
the whole execution, the first second after the starts (setting the executions off), and per
second while the commands run (what running executions cost while nothing happens). A count
of CPU time: it moves far less from round to round than serve.sh's latency percentiles."""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from serve_load import EXECUTIONS, PIPELINE, Client, declaration, wait_until_idle

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS


def serve(binary, work, index):
    log_path = f"{work}/serve{index}.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        [binary, "serve", "--port", "0", "--state-dir", f"{work}/state{index}", "--source", f"Source={work}/src"],
        stdout=log,
        stderr=log,
    )
    for _ in range(100):
        found = re.search(r"http://127\.0\.0\.1:\d+", open(log_path).read())
        if found:
            client = Client(found.group(0))
            client.call("CreatePipeline", declaration())
            wait_until_idle(client)  # CreatePipeline's own execution
            return server, client
        time.sleep(0.1)
    server.kill()
    raise SystemExit(f"{binary} serve did not start: {open(log_path).read()[-500:]}")


def one_round(server, client):
    """CPU ms per execution: whole, first second, per second while the commands run."""
    start = cpu_ms(server.pid)
    for _ in range(EXECUTIONS):
        client.call("StartPipelineExecution", {"name": PIPELINE})
    time.sleep(1.0)
    first_second = cpu_ms(server.pid)
    time.sleep(1.0)
    quiet_from = cpu_ms(server.pid)
    time.sleep(5.0)
    quiet_to = cpu_ms(server.pid)
    wait_until_idle(client)
    whole = cpu_ms(server.pid)
    return (whole - start) / EXECUTIONS, (first_second - start) / EXECUTIONS, (quiet_to - quiet_from) / EXECUTIONS / 5.0


def main():
    rounds, binaries = int(sys.argv[1]), sys.argv[2:]
    work = tempfile.mkdtemp()
    os.makedirs(f"{work}/src")
    open(f"{work}/src/app.txt", "w").write("hello\n")
    servers = []
    try:
        for index, binary in enumerate(binaries):
            servers.append((binary, *serve(binary, work, index)))
        figures = {binary: [] for binary in binaries}
        for number in range(rounds):
            for binary, server, client in servers if number % 2 == 0 else list(reversed(servers)):
                figures[binary].append(one_round(server, client))
            print(f"round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
        print(f"server CPU per execution of {PIPELINE!r} (ms; median, min-max over {rounds} rounds)")
        for binary in binaries:
            columns = list(zip(*figures[binary]))
            described = [f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f})" for c in columns]
            print(f"{binary}\n  whole {described[0]}\n  first second {described[1]}\n  per second while running {described[2]}")
    finally:
        for _, server, _ in servers:
            server.kill()
            server.wait()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
