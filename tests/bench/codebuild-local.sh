#!/usr/bin/env bash
# A five-action CodeBuild pipeline run locally, from start to Succeeded, against a bash floor
# running the same build commands.
#
# The pipeline: an S3 source read from a directory, then five CodeBuild actions as a team
# writes them (build; unit and lint tests in parallel, the unit tests writing a JUnit report;
# package; deploy), each a buildspec of three phases. The floor runs the same commands with
# bash alone, one `sh` per command as CodeBuild does, nothing else. Rounds alternate between
# the two (ROUNDS, default 7) and the script prints min/median/max of each and of the
# difference: what Pipewright adds to run the pipeline around the builds. CodeBuild itself
# adds about 60 s of queueing and provisioning per build (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-7}"

cargo build --release --locked --quiet -p pipewright
bin="$PWD/target/release/pipewright"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/specs"
echo "hello" > "$work/src/app.txt"
echo '<testsuite><testcase name="a"/><testcase name="b"/></testsuite>' > "$work/src/junit.xml"

# Each step: its buildspec's commands, one per line.
steps=(build unit lint package deploy)
commands_of() {
  case "$1" in
    build)   printf '%s\n' 'echo "building $CODEBUILD_BUILD_NUMBER"' 'mkdir -p dist && cp app.txt dist/app.txt' 'echo built > dist/BUILD' ;;
    unit)    printf '%s\n' 'test -f dist/BUILD' 'mkdir -p reports' 'cp junit.xml reports/unit.xml' ;;
    lint)    printf '%s\n' 'test -f dist/app.txt' 'grep -q hello dist/app.txt' 'echo lint ok' ;;
    package) printf '%s\n' 'mkdir -p out' 'tar -czf out/release.tgz dist' 'ls out' ;;
    deploy)  printf '%s\n' 'mkdir -p "$TARGET"' 'tar -xzf out/release.tgz -C "$TARGET"' 'echo deployed' ;;
  esac
}
for step in "${steps[@]}"; do
  {
    echo "version: 0.2"
    echo "phases:"
    i=0
    for phase in install build post_build; do
      echo "  $phase:"
      echo "    commands:"
      line=$(commands_of "$step" | sed -n "$((i + 1))p")
      printf "      - '%s'\n" "${line//\'/\'\'}"
      i=$((i + 1))
    done
    [ "$step" = unit ] && printf 'reports:\n  unit:\n    files: [reports/unit.xml]\n'
    printf "artifacts:\n  files: ['**/*']\n"
  } > "$work/specs/$step.yml"
done

cb() { # name project runOrder input output
  local out=""
  [ -n "$5" ] && out=",\"outputArtifacts\":[{\"name\":\"$5\"}]"
  printf '{"name":"%s","runOrder":%s,"actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},"configuration":{"ProjectName":"%s"},"inputArtifacts":[{"name":"%s"}]%s}' "$1" "$3" "$2" "$4" "$out"
}
cat > "$work/pipeline.json" <<JSON
{"name":"cb-bench","roleArn":"arn:aws:iam::111122223333:role/p","artifactStore":{"type":"S3","location":"local"},"pipelineType":"V2",
 "stages":[
  {"name":"Source","actions":[{"name":"Source","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"configuration":{"S3Bucket":"b","S3ObjectKey":"k.zip"},"outputArtifacts":[{"name":"Src"}]}]},
  {"name":"Build","actions":[$(cb Build build 1 Src Built)]},
  {"name":"Test","actions":[$(cb Unit unit 1 Built ""),$(cb Lint lint 1 Built "")]},
  {"name":"Release","actions":[$(cb Package package 1 Built Pkg),$(cb Deploy deploy 2 Pkg "")]}]}
JSON
flags=()
for step in "${steps[@]}"; do flags+=(--buildspec "$step=$work/specs/$step.yml"); done
export TARGET="$work/deployed"

run_pipewright() {
  "$bin" --state-dir "$work/state" run "$work/pipeline.json" --source "Source=$work/src" "${flags[@]}" > "$work/last.log" 2>&1 \
    || { cat "$work/last.log"; exit 1; }
}
run_floor() { # the same commands in one workspace, one sh per command
  local dir="$work/floor"
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$work/src/." "$dir/"
  for step in "${steps[@]}"; do
    while IFS= read -r line; do /bin/sh -c "cd '$dir' && $line" > /dev/null; done < <(commands_of "$step")
  done
}

millis() { date +%s%3N; }
run_pipewright   # warm-up (and the first build numbers)
pipewright_ms=(); floor_ms=()
for _ in $(seq "$ROUNDS"); do
  start=$(millis); run_pipewright; pipewright_ms+=($(( $(millis) - start )))
  start=$(millis); run_floor; floor_ms+=($(( $(millis) - start )))
done

stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "min %d ms, median %d ms, max %d ms", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
diffs=(); for i in "${!pipewright_ms[@]}"; do diffs+=($(( pipewright_ms[i] - floor_ms[i] ))); done
echo "rounds:            $ROUNDS (interleaved)"
echo "pipewright run:    $(stats "${pipewright_ms[@]}")  (source + 5 CodeBuild actions, 15 build commands)"
echo "bash floor:        $(stats "${floor_ms[@]}")  (the same 15 commands, one sh each)"
echo "difference:        $(stats "${diffs[@]}")"
echo "CodeBuild on AWS:  ~60 s queue and provisioning per build, x5 builds (three stages in sequence, two builds in parallel)"
