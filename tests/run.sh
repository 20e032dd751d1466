#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and property tests, the CLI's
# end-to-end tests, and the example declarations. Run from anywhere: `bash tests/run.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "tests/run.sh: cargo is not installed; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi
for tool in git bash; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/run.sh: the local-mode tests need $tool; install it and run again" >&2
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

step "cargo test (unit, property, store contract, worker and CLI end-to-end tests)"
cargo test --workspace --locked

step "pipewright validate infra/pipelines/*"
cargo run --locked --quiet -- validate infra/pipelines/*.json infra/pipelines/*.yaml

step "all tests passed"
