#!/usr/bin/env bash
# Orchestration overhead of local mode, per action transition.
#
# Runs RUNS executions (default 100) of a pipeline of cheap actions with `pipewright run`, and
# the same number of "bare" rounds that only spawn the processes a run cannot avoid: the
# pipewright process itself and one shell per Commands action. The difference, divided by the
# number of actions, is what Pipewright adds per action: state commits, outbox, artifacts
# (zip/unzip), workspaces, logs and events.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS="${RUNS:-100}"

cargo build --release --locked --quiet -p pipewright
bin="$PWD/target/release/pipewright"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
echo "hello" > "$work/src/app.txt"

cmd() { # name runOrder input
  printf '{"name":"%s","runOrder":%s,"actionTypeId":{"category":"Compute","owner":"AWS","provider":"Commands","version":"1"},"commands":["true"],"inputArtifacts":[{"name":"%s"}]}' "$1" "$2" "$3"
}
cat > "$work/pipeline.json" <<EOF
{"name":"overhead","roleArn":"arn:aws:iam::111122223333:role/p","artifactStore":{"type":"S3","location":"local"},"pipelineType":"V2",
 "stages":[
  {"name":"Source","actions":[{"name":"Source","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"configuration":{"S3Bucket":"b","S3ObjectKey":"k.zip"},"outputArtifacts":[{"name":"Src"}]}]},
  {"name":"Build","actions":[$(cmd A 1 Src),$(cmd B 1 Src),$(cmd C 2 Src)]},
  {"name":"Deploy","actions":[$(cmd D 1 Src)]}]}
EOF
actions=5     # the source and four Commands actions
shells=4

millis() { date +%s%3N; }

"$bin" --state-dir "$work/state" run "$work/pipeline.json" --source "Source=$work/src" > /dev/null   # warm-up
start=$(millis)
for _ in $(seq "$RUNS"); do
  "$bin" --state-dir "$work/state" run "$work/pipeline.json" --source "Source=$work/src" > /dev/null
done
runs_ms=$(( $(millis) - start ))

start=$(millis)
for _ in $(seq "$RUNS"); do
  "$bin" --version > /dev/null
  for _ in $(seq "$shells"); do /bin/bash -c true; done
done
bare_ms=$(( $(millis) - start ))

transitions=$(( RUNS * actions ))
echo "executions:              $RUNS (each $actions actions: 1 source + $shells Commands)"
echo "pipewright run, total:   ${runs_ms} ms  ($(( runs_ms / RUNS )) ms per execution)"
echo "process spawns, total:   ${bare_ms} ms  (1 pipewright + $shells shells per execution)"
awk -v r="$runs_ms" -v b="$bare_ms" -v t="$transitions" \
  'BEGIN { printf "overhead per action:     %.2f ms  ((run - spawns) / %d action transitions)\n", (r - b) / t, t }'
