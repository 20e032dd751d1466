#!/usr/bin/env bash
# The local AWS stand-in: moto's server in a venv of its own, on a free loopback port.
#
#   bash infra/local/moto.sh install   # create infra/local/.venv with moto[server] (once)
#   bash infra/local/moto.sh start     # start it; prints the `export` lines to use it
#   bash infra/local/moto.sh stop      # stop it
#   bash infra/local/moto.sh env       # the `export` lines of the running server
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
state="$here/.moto"

install() {
  # Installed, and from these very requirements: nothing to do.
  if [[ -x "$venv/bin/moto_server" ]] && cmp -s "$here/requirements.txt" "$venv/requirements.installed"; then
    return
  fi
  local python
  python="$(command -v python3 || true)"
  if [[ -z "$python" ]]; then
    echo "moto.sh: python3 is needed to run moto; install it (e.g. apt-get install python3-venv) and run again" >&2
    exit 1
  fi
  echo "moto.sh: installing moto into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.installed"
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

print_env() {
  local port
  port="$(cat "$state/port")"
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$port"
  echo "export PIPEWRIGHT_MOTO_ENDPOINT=http://127.0.0.1:$port"
  echo "export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
}

running() {
  [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
  install
  if running; then
    print_env
    return
  fi
  mkdir -p "$state"
  local port
  port="$(free_port)"
  # moto_strict.py: moto with requests serialised, as DynamoDB serialises transactions, and
  # held to the AWS limits moto leaves out.
  "$venv/bin/python" "$here/moto_strict.py" 127.0.0.1 "$port" >"$state/log" 2>&1 &
  echo $! >"$state/pid"
  echo "$port" >"$state/port"
  for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
      print_env
      return
    fi
    if ! running; then
      echo "moto.sh: moto_server exited; its log:" >&2
      cat "$state/log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "moto.sh: moto_server did not listen on port $port within 30 s" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
  fi
  rm -rf "$state"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) running && print_env ;;
  *)
    echo "usage: bash infra/local/moto.sh install|start|stop|env" >&2
    exit 2
    ;;
esac
