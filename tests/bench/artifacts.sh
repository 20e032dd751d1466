#!/usr/bin/env bash
# Moving artifacts: a source of SIZE_MB (default 200) MB through three chained Commands
# actions, each taking the previous one's output artifact and passing all of it on, against
# `cp -r` of the same data three times over (one copy per action, no archive).
#
# Prints, over ROUNDS interleaved rounds, min/median/max of each side and the ratio of the
# medians; the peak RSS of `pipewright run` (/usr/bin/time -v: its own process, which zips and
# unzips; the actions' shells are children it waits for) and the disk its state directory
# holds after the run, against the source's size.
#
# FILES=N (5000, say) makes the source a tree of N small files instead, ten to a directory,
# as a repository's checkout is: what it measures is the cost per entry, not per byte.
#
# PIPEWRIGHT=path/to/binary measures that binary instead of building this tree's release;
# BASELINE=path/to/another adds a second binary (an earlier build) to the same rounds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-5}"
SIZE_MB="${SIZE_MB:-200}"
FILES="${FILES:-}"

if [[ -z "${PIPEWRIGHT:-}" ]]; then
  cargo build --release --locked --quiet -p pipewright
  PIPEWRIGHT="$PWD/target/release/pipewright"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/pw-artifacts.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/text"
if [[ -n "$FILES" ]]; then
  python3 - "$work/src" "$FILES" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    folder = os.path.join(root, f"pkg{i // 1000}", f"mod{i // 100 % 10}", f"part{i // 10 % 10}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"file{i}.rs"), "w") as out:
        out.write(f"// file {i}\n" + "fn item() -> u32 { 42 }\n" * (1 + i % 40))
PY
  shape="$FILES small files in a tree"
else
  # Half the source is one file of random bytes (it does not compress, and it is the largest
  # file an artifact holds: memory must not follow it); the other half is text in ~2 MB files.
  head -c $(( SIZE_MB / 2 * 1000000 )) /dev/urandom > "$work/src/large.bin"
  files=$(( SIZE_MB / 4 ))
  for i in $(seq "$files"); do
    seq $(( i * 1000000 )) $(( i * 1000000 + 250000 )) > "$work/src/text/lines$i.txt"   # ~2 MB of text
  done
  shape="one random file of half of it, $files text files"
fi
source_bytes=$(du -sb "$work/src" | cut -f1)

commands() { # name input [output]
  local output=""
  if [[ -n "${3:-}" ]]; then output=',"outputArtifacts":[{"name":"'"$3"'","files":["**/*"]}]'; fi
  printf '{"name":"%s","actionTypeId":{"category":"Compute","owner":"AWS","provider":"Commands","version":"1"},"commands":["true"],"inputArtifacts":[{"name":"%s"}]%s}' \
    "$1" "$2" "$output"
}
cat > "$work/pipeline.json" <<EOF
{"name":"artifacts","roleArn":"arn:aws:iam::111122223333:role/p","artifactStore":{"type":"S3","location":"local"},"pipelineType":"V2",
 "stages":[
  {"name":"Source","actions":[{"name":"Source","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"configuration":{"S3Bucket":"b","S3ObjectKey":"k.zip"},"outputArtifacts":[{"name":"Src"}]}]},
  {"name":"First","actions":[$(commands First Src One)]},
  {"name":"Second","actions":[$(commands Second One Two)]},
  {"name":"Third","actions":[$(commands Third Two)]}]}
EOF

millis() { date +%s%3N; }
run() { "$1" --state-dir "$work/state" run "$work/pipeline.json" --source "Source=$work/src" > /dev/null; }
copies() { cp -r "$work/src" "$work/c1" && cp -r "$work/c1" "$work/c2" && cp -r "$work/c2" "$work/c3"; }
clean() { rm -rf "$work/state" "$work/c1" "$work/c2" "$work/c3"; sync; }

binaries=("$PIPEWRIGHT")
if [[ -n "${BASELINE:-}" ]]; then binaries+=("$BASELINE"); fi
declare -A runs disk peak
floors=""
for round in $(seq "$ROUNDS"); do
  for binary in "${binaries[@]}"; do
    clean
    start=$(millis); run "$binary"; runs[$binary]+="$(( $(millis) - start )) "
    disk[$binary]=$(du -sb "$work/state" | cut -f1)
  done
  clean
  start=$(millis); copies; floors+="$(( $(millis) - start )) "
  echo "round $round/$ROUNDS done" >&2
done
for binary in "${binaries[@]}"; do
  clean
  peak[$binary]=$( { /usr/bin/time -v "$binary" --state-dir "$work/state" run "$work/pipeline.json" --source "Source=$work/src" > /dev/null; } 2>&1 \
    | awk -F': ' '/Maximum resident set size/ { print $2 }')
done
clean

stats() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { printf "%d %d %d", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
read -r fmin fmed fmax <<< "$(stats <<< "$floors")"
echo "source: $(( source_bytes / 1000000 )) MB ($shape), rounds: $ROUNDS (interleaved)"
echo "cp -r three times (the floor):      $fmin/$fmed/$fmax ms (min/median/max)"
for binary in "${binaries[@]}"; do
  read -r rmin rmed rmax <<< "$(stats <<< "${runs[$binary]}")"
  echo
  echo "binary: $binary"
  echo "pipewright run, 3 chained actions:  $rmin/$rmed/$rmax ms"
  awk -v r="$rmed" -v f="$fmed" 'BEGIN { printf "ratio of the medians:               %.2f×\n", r / f }'
  awk -v k="${peak[$binary]}" 'BEGIN { printf "peak RSS of pipewright run:         %.1f MiB\n", k / 1024 }'
  awk -v s="${disk[$binary]}" -v src="$source_bytes" \
    'BEGIN { printf "disk left in the state directory:   %d MB (%.2f× the source)\n", s / 1000000, s / src }'
done
