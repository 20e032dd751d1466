#!/usr/bin/env bash
# Orchestration overhead as a pipeline grows: `pipewright run` of N Commands actions that run
# `true`, against bash running the same processes with the same parallelism.
#
# The pipeline: an S3 source read from a directory, then N Commands actions in stages of up to
# 50 (CodePipeline's limit per stage), all of a stage in parallel. The floor runs, stage by
# stage, one `bash -c true` per action, all of a stage at once, and waits for them: the
# processes a run cannot avoid, with the same parallelism. Rounds interleave every N and both
# sides; the script prints min/median/max per N, the ratio of the medians, and the overhead
# each added action costs between one N and the next (flat when the total is linear).
#
# PIPEWRIGHT=path/to/binary measures that binary instead of building this tree's release;
# BASELINE=path/to/another adds a second binary (an earlier build) to the same rounds.
# TMPDIR chooses the file system the state directories are on: the allocation of new inodes
# is a large part of the time at high N on some (docs/benchmarks.md, stop 29).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-5}"
SIZES="${SIZES:-5 20 100 200 400}"
PER_STAGE=50

if [[ -z "${PIPEWRIGHT:-}" ]]; then
  cargo build --release --locked --quiet -p pipewright
  PIPEWRIGHT="$PWD/target/release/pipewright"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
echo "hello" > "$work/src/app.txt"

# pipeline N: the declaration of a pipeline of N actions of `true`.
pipeline() {
  local n=$1 stages="" stage=0 i=0
  while (( i < n )); do
    stage=$(( stage + 1 ))
    local actions="" count=0
    while (( i < n && count < PER_STAGE )); do
      i=$(( i + 1 )); count=$(( count + 1 ))
      actions+="${actions:+,}{\"name\":\"A$i\",\"actionTypeId\":{\"category\":\"Compute\",\"owner\":\"AWS\",\"provider\":\"Commands\",\"version\":\"1\"},\"commands\":[\"true\"],\"inputArtifacts\":[{\"name\":\"Src\"}]}"
    done
    stages+=",{\"name\":\"S$stage\",\"actions\":[$actions]}"
  done
  printf '{"name":"scale%s","roleArn":"arn:aws:iam::111122223333:role/p","artifactStore":{"type":"S3","location":"local"},"pipelineType":"V2","stages":[{"name":"Source","actions":[{"name":"Source","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"configuration":{"S3Bucket":"b","S3ObjectKey":"k.zip"},"outputArtifacts":[{"name":"Src"}]}]}%s]}' "$n" "$stages"
}

# floor N: the same processes, stage by stage, each stage's at once.
floor() {
  local left=$1
  while (( left > 0 )); do
    local batch=$(( left < PER_STAGE ? left : PER_STAGE ))
    for _ in $(seq "$batch"); do /bin/bash -c true & done
    wait
    left=$(( left - batch ))
  done
}

millis() { date +%s%3N; }

for n in $SIZES; do
  pipeline "$n" > "$work/p$n.json"
  # warm-up, and a check that it runs
  "$PIPEWRIGHT" --state-dir "$work/state" run "$work/p$n.json" --source "Source=$work/src" > /dev/null
done

# timed BINARY N: milliseconds of one run on a fresh state directory.
timed() {
  rm -rf "$work/state"
  local start
  start=$(millis)
  "$1" --state-dir "$work/state" run "$work/p$2.json" --source "Source=$work/src" > /dev/null
  echo $(( $(millis) - start ))
}

declare -A runs floors baselines
for round in $(seq "$ROUNDS"); do
  for n in $SIZES; do
    runs[$n]+="$(timed "$PIPEWRIGHT" "$n") "
    if [[ -n "${BASELINE:-}" ]]; then baselines[$n]+="$(timed "$BASELINE" "$n") "; fi
    start=$(millis)
    floor "$n"
    floors[$n]+="$(( $(millis) - start )) "
  done
  echo "round $round/$ROUNDS done" >&2
done

stats() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { printf "%d %d %d", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

echo "rounds: $ROUNDS (interleaved), binary: $PIPEWRIGHT"
printf '%6s  %-22s  %-22s  %7s  %s\n' "N" "pipewright min/med/max" "bash floor min/med/max" "ratio" "overhead per added action"
previous_n="" previous_gap=""
for n in $SIZES; do
  read -r rmin rmed rmax <<< "$(stats <<< "${runs[$n]}")"
  read -r fmin fmed fmax <<< "$(stats <<< "${floors[$n]}")"
  gap=$(( rmed - fmed ))
  slope="-"
  if [[ -n "$previous_n" ]]; then
    slope=$(awk -v g="$gap" -v pg="$previous_gap" -v n="$n" -v pn="$previous_n" 'BEGIN { printf "%.2f ms (N %d→%d)", (g - pg) / (n - pn), pn, n }')
  fi
  ratio=$(awk -v r="$rmed" -v f="$fmed" 'BEGIN { printf "%.2f×", (f > 0 ? r / f : 0) }')
  printf '%6s  %-22s  %-22s  %7s  %s\n' "$n" "$rmin/$rmed/$rmax ms" "$fmin/$fmed/$fmax ms" "$ratio" "$slope"
  previous_n=$n previous_gap=$gap
done
if [[ -n "${BASELINE:-}" ]]; then
  echo
  echo "baseline, same rounds: $BASELINE"
  printf '%6s  %-22s  %7s  %s\n' "N" "baseline min/med/max" "ratio" "overhead per added action"
  previous_n="" previous_gap=""
  for n in $SIZES; do
    read -r bmin bmed bmax <<< "$(stats <<< "${baselines[$n]}")"
    read -r _ fmed _ <<< "$(stats <<< "${floors[$n]}")"
    gap=$(( bmed - fmed ))
    slope="-"
    if [[ -n "$previous_n" ]]; then
      slope=$(awk -v g="$gap" -v pg="$previous_gap" -v n="$n" -v pn="$previous_n" 'BEGIN { printf "%.2f ms (N %d→%d)", (g - pg) / (n - pn), pn, n }')
    fi
    ratio=$(awk -v r="$bmed" -v f="$fmed" 'BEGIN { printf "%.2f×", (f > 0 ? r / f : 0) }')
    printf '%6s  %-22s  %7s  %s\n' "$n" "$bmin/$bmed/$bmax ms" "$ratio" "$slope"
    previous_n=$n previous_gap=$gap
  done
fi
