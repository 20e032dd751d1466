#!/usr/bin/env bash
# Lints template.yaml offline, as CI does: `sam validate --lint` and `cfn-lint`, both from a
# venv of their own (infra/local/.venv-lint), installed from lint-requirements.txt when missing.
#
#   bash infra/local/lint-template.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv-lint"

if ! [[ -x "$venv/bin/sam" && -x "$venv/bin/cfn-lint" ]] || ! cmp -s "$here/lint-requirements.txt" "$venv/requirements.installed"; then
  python="$(command -v python3 || true)"
  if [[ -z "$python" ]]; then
    echo "lint-template.sh: python3 is needed for sam and cfn-lint; install it (e.g. apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "lint-template.sh: installing aws-sam-cli and cfn-lint into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/lint-requirements.txt"
  cp "$here/lint-requirements.txt" "$venv/requirements.installed"
fi

cd "$root"
# No telemetry, no update check: CI has no internet beyond the package registries.
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1
"$venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml
"$venv/bin/cfn-lint" template.yaml
echo "template.yaml: sam validate --lint and cfn-lint are clean"
