#!/usr/bin/env bash
# `pipewright serve` under load: how fast it answers while executions run.
#
# Each round, against one server:
#   1. idle: 200 GetPipelineState requests, one after another, nothing running;
#   2. 50 StartPipelineExecution requests of a PARALLEL pipeline whose one action runs
#      `sleep 8`, one after another (each answered as soon as the start is committed);
#   3. loaded: 200 GetPipelineState requests while those 50 executions run;
#   4. waits until every execution ended.
# The client is a raw HTTP/1.1 keep-alive connection (tests/bench/serve_load.py, standard
# library only), so that what is timed is the server. Printed per round, then min/median/max
# over the rounds: idle p50/p99, loaded p99, start p50, and the two ratios of issue 17:
# loaded GetPipelineState p99 against idle p99, and StartPipelineExecution p50 against idle
# GetPipelineState p50.
#
# PIPEWRIGHT=path/to/binary measures that binary instead of building this tree's release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-5}"

if [[ -z "${PIPEWRIGHT:-}" ]]; then
  cargo build --release --locked --quiet -p pipewright
  PIPEWRIGHT="$PWD/target/release/pipewright"
fi
work="$(mktemp -d)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/src"
echo "hello" > "$work/src/app.txt"

"$PIPEWRIGHT" serve --port 0 --state-dir "$work/state" --source "Source=$work/src" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  grep -qo 'http://127.0.0.1:[0-9]*' "$work/serve.log" && break
  sleep 0.1
done
endpoint="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1)"
if [[ -z "$endpoint" ]]; then
  cat "$work/serve.log" >&2
  exit 1
fi
python3 tests/bench/serve_load.py "$endpoint" "$ROUNDS"
