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
# BASELINE=path/to/another adds a second binary (an earlier build), on a server of its own,
# to the same rounds: each round runs on both, one after the other, the order alternating.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-5}"

if [[ -z "${PIPEWRIGHT:-}" ]]; then
  cargo build --release --locked --quiet -p pipewright
  PIPEWRIGHT="$PWD/target/release/pipewright"
fi
work="$(mktemp -d)"
servers=()
cleanup() {
  for server in "${servers[@]}"; do kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/src"
echo "hello" > "$work/src/app.txt"

# serve BINARY NAME: starts a server on state directory NAME; sets `endpoint` to its URL.
serve() {
  "$1" serve --port 0 --state-dir "$work/$2" --source "Source=$work/src" > "$work/$2.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 100); do
    grep -qo 'http://127.0.0.1:[0-9]*' "$work/$2.log" && break
    sleep 0.1
  done
  endpoint="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$2.log" | head -1)"
  if [[ -z "$endpoint" ]]; then
    cat "$work/$2.log" >&2
    exit 1
  fi
}
baseline=()
if [[ -n "${BASELINE:-}" ]]; then
  serve "$BASELINE" baseline-state
  baseline=("$endpoint")
  echo "baseline, same rounds: $BASELINE"
fi
serve "$PIPEWRIGHT" state
python3 tests/bench/serve_load.py "$endpoint" "$ROUNDS" "${baseline[@]}"
