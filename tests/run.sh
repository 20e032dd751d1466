#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and property tests, the CLI's
# end-to-end tests, the AWS end-to-end tests against moto and under `cargo lambda watch`, the
# API tests with the aws CLI and boto3, the console's browser tests, the template's linters,
# and the example declarations. Run from anywhere: `bash tests/run.sh`.
# It installs what it needs when missing (moto, the linters, the aws CLI and boto3 in venvs under infra/local/,
# cargo-lambda with cargo install), starts moto, and stops it afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "tests/run.sh: cargo is not installed; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi
for tool in git bash python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/run.sh: the tests need $tool; install it and run again" >&2
    exit 1
  fi
done
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# More cases than the default for the state machine's property test.
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "template.yaml: sam validate --lint and cfn-lint"
bash infra/local/lint-template.sh

step "cargo-lambda (for the smoke test under cargo lambda watch)"
if ! cargo lambda --version >/dev/null 2>&1; then
  echo "installing cargo-lambda (about 12 minutes, once)"
  cargo install --locked cargo-lambda
fi
cargo lambda --version

step "moto (the local AWS stand-in)"
# A moto left running by the dev loop is reused and left running; one started here is stopped.
if ! bash infra/local/moto.sh env >/dev/null 2>&1; then
  trap 'bash infra/local/moto.sh stop' EXIT
fi
eval "$(bash infra/local/moto.sh start)"
echo "moto at $PIPEWRIGHT_MOTO_ENDPOINT"

step "the aws CLI and boto3 (the API's real clients)"
eval "$(bash infra/local/clients.sh env)"

step "cargo test (unit, property, store contract, CLI, AWS end-to-end and cargo lambda watch tests)"
cargo test --workspace --locked

step "the console in headless Chromium (installs chromium and playwright-core when missing)"
bash tests/console/install.sh
PIPEWRIGHT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/pipewright" node --test tests/console/

step "pipewright validate infra/pipelines/*"
cargo run --locked --quiet -- validate infra/pipelines/*.json infra/pipelines/*.yaml

step "all tests passed"
