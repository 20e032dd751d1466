#!/usr/bin/env bash
# The aws CLI and boto3 in a venv of their own (infra/local/.venv-clients), for the tests that
# drive `pipewright serve` with CodePipeline's real clients.
#
#   bash infra/local/clients.sh install   # create the venv from clients-requirements.txt (once)
#   bash infra/local/clients.sh env       # the `export` line the tests read
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-clients"

install() {
  if [[ -x "$venv/bin/aws" && -x "$venv/bin/python" ]] && cmp -s "$here/clients-requirements.txt" "$venv/requirements.installed"; then
    return
  fi
  local python
  python="$(command -v python3 || true)"
  if [[ -z "$python" ]]; then
    echo "clients.sh: python3 is needed for the aws CLI and boto3; install it (e.g. apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "clients.sh: installing the aws CLI and boto3 into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/clients-requirements.txt"
  cp "$here/clients-requirements.txt" "$venv/requirements.installed"
}

case "${1:-}" in
  install) install ;;
  env) install && echo "export PIPEWRIGHT_CLIENTS_VENV=$venv" ;;
  *)
    echo "usage: bash infra/local/clients.sh install|env" >&2
    exit 2
    ;;
esac
