#!/usr/bin/env bash
# Cold start of a Lambda function binary at opt-level "z" (what `sam build` ships) against the
# same function at opt-level 3, side by side in interleaved rounds (tests/bench/coldstart.py):
# the time to its first request for work (Lambda's Init Duration) and its first invocation, a
# scheduled tick against the stand-in (moto, with the template's resources). Lambda also
# downloads and unpacks the package before that, which grows with its size: the sizes are
# printed beside the times.
#
# FUNCTION=stage-transition by default. Z=path and O3=path measure given binaries instead of
# building both (two release builds, about 20 minutes each on 2 cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-7}"
FUNCTION="${FUNCTION:-stage-transition}"

if [[ -z "${Z:-}" ]]; then
  CARGO_TARGET_DIR=target/coldstart-z cargo build --release --locked --quiet -p "$FUNCTION" \
    --config "profile.release.opt-level='z'"
  Z="target/coldstart-z/release/$FUNCTION"
fi
if [[ -z "${O3:-}" ]]; then
  CARGO_TARGET_DIR=target/coldstart-3 cargo build --release --locked --quiet -p "$FUNCTION" \
    --config "profile.release.opt-level=3"
  O3="target/coldstart-3/release/$FUNCTION"
fi

work="$(mktemp -d)"
# A stand-in already running is used, and left running.
if bash infra/local/moto.sh env > /dev/null 2>&1; then started=""; else started=1; fi
trap '[[ -n "$started" ]] && bash infra/local/moto.sh stop > /dev/null 2>&1; rm -rf "$work"' EXIT
eval "$(bash infra/local/moto.sh start)"
cargo run --quiet -p pipewright-aws --features devstack --bin pipewright-devstack -- up \
  --env-file "$work/env" > /dev/null
python3 tests/bench/coldstart.py "$ROUNDS" "$work/env" "z=$Z" "3=$O3"
