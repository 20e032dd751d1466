"""The load of tests/bench/serve.sh: python3 serve_load.py ENDPOINT ROUNDS [BASELINE_ENDPOINT].

Speaks CodePipeline's JSON 1.1 over one keep-alive connection per client; serve on loopback
accepts unsigned requests. With a baseline server, each round runs on both, one after the
other (the order alternates), and each is summed up on its own."""

import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse

PIPELINE = "loaded"
EXECUTIONS = 50
READS = 200
ACTION_SECONDS = 8


class Client:
    def __init__(self, endpoint):
        url = urlparse(endpoint)
        self.connection = http.client.HTTPConnection(url.hostname, url.port)

    def call(self, operation, body):
        """(answer, milliseconds)."""
        payload = json.dumps(body)
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"CodePipeline_20150709.{operation}",
        }
        start = time.perf_counter()
        self.connection.request("POST", "/", payload, headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise SystemExit(f"{operation}: {response.status} {data[:300]!r}")
        return json.loads(data or b"{}"), elapsed


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def declaration():
    commands = {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"}
    source = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
    return {
        "pipeline": {
            "name": PIPELINE,
            "roleArn": "arn:aws:iam::111122223333:role/bench",
            "artifactStore": {"type": "S3", "location": "bench"},
            "pipelineType": "V2",
            "executionMode": "PARALLEL",
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "actionTypeId": source,
                  "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"}, "outputArtifacts": [{"name": "Src"}]}]},
                {"name": "Work", "actions": [{"name": "Wait", "actionTypeId": commands,
                  "commands": [f"sleep {ACTION_SECONDS}"], "inputArtifacts": [{"name": "Src"}]}]},
            ],
        }
    }


def reads(client):
    return [client.call("GetPipelineState", {"name": PIPELINE})[1] for _ in range(READS)]


def running(client):
    summaries = client.call("ListPipelineExecutions", {"pipelineName": PIPELINE, "maxResults": 100})[0]
    return sum(1 for s in summaries["pipelineExecutionSummaries"] if s["status"] in ("InProgress", "Stopping"))


def wait_until_idle(client):
    deadline = time.time() + 300
    while running(client):
        if time.time() > deadline:
            raise SystemExit("executions still running after 300 s")
        time.sleep(0.5)


def one_round(client):
    idle = reads(client)
    starts = [client.call("StartPipelineExecution", {"name": PIPELINE})[1] for _ in range(EXECUTIONS)]
    busy = running(client)
    loaded = reads(client)
    still = running(client)
    wait_until_idle(client)
    figures = {
        "idle p50": percentile(idle, 0.5),
        "idle p99": percentile(idle, 0.99),
        "loaded p99": percentile(loaded, 0.99),
        "start p50": percentile(starts, 0.5),
    }
    figures["loaded/idle p99"] = figures["loaded p99"] / figures["idle p99"]
    figures["start/idle p50"] = figures["start p50"] / figures["idle p50"]
    return figures, f"(running: {busy} after the starts, {still} after the loaded reads)"


def summary(label, rounds):
    print(f"\n{label}\n{'figure':20} {'min':>8} {'median':>8} {'max':>8}   (ms, or a ratio)")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"{name:20} {min(values):8.2f} {statistics.median(values):8.2f} {max(values):8.2f}")


def main():
    endpoint, count = sys.argv[1], int(sys.argv[2])
    baseline = sys.argv[3] if len(sys.argv) > 3 else None
    servers = [("this build", Client(endpoint))]
    if baseline:
        servers.append(("baseline", Client(baseline)))
    for _, client in servers:
        client.call("CreatePipeline", declaration())
        wait_until_idle(client)  # CreatePipeline's own execution
    rounds = {label: [] for label, _ in servers}
    for number in range(1, count + 1):
        order = servers if number % 2 else list(reversed(servers))
        for label, client in order:
            figures, note = one_round(client)
            rounds[label].append(figures)
            print(
                f"round {number}, {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()) + f" {note}",
                flush=True,
            )
    for label, _ in servers:
        summary(label, rounds[label])


if __name__ == "__main__":
    main()
