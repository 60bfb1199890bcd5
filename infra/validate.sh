#!/usr/bin/env bash
# Deeper checks of the operations artefacts with tools that may be
# installed. `go test ./infra/...` runs everywhere; this adds what those
# tools know:
#
#   kubectl kustomize (or kustomize)  builds both overlays
#   terraform                          fmt -check; validate when providers download
#   promtool                           checks the alert rules
#
# A missing tool is reported and skipped; a failing check fails the script.
# Kubernetes schema validation (kubeconform) is not run: it needs schemas
# from the network, and most objects here are CRDs (ExternalSecret,
# ScaledObject) it would skip anyway.
set -euo pipefail
cd "$(dirname "$0")"

fail=0
note() { printf '== %s\n' "$*" >&2; }

if command -v kustomize >/dev/null 2>&1; then
  build() { kustomize build "$1"; }
elif command -v kubectl >/dev/null 2>&1; then
  build() { kubectl kustomize "$1"; }
else
  build() { return 127; }
fi
for env in staging production; do
  if out=$(build "k8s/overlays/$env" 2>&1); then
    note "kustomize build k8s/overlays/$env: $(grep -c '^kind:' <<<"$out") objects"
  elif [ $? -eq 127 ]; then
    note "kustomize/kubectl not installed: overlay build skipped"; break
  else
    printf '%s\n' "$out" >&2; note "kustomize build k8s/overlays/$env FAILED"; fail=1
  fi
done

if command -v terraform >/dev/null 2>&1; then
  if terraform -chdir=terraform fmt -check -recursive >/dev/null; then
    note "terraform fmt: ok"
  else
    note "terraform fmt: files need formatting"; fail=1
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  cp terraform/*.tf "$tmp/"
  if terraform -chdir="$tmp" init -backend=false -input=false >/dev/null 2>&1; then
    terraform -chdir="$tmp" validate || fail=1
  else
    note "terraform providers not downloadable here: validate skipped"
  fi
else
  note "terraform not installed: skipped"
fi

if command -v promtool >/dev/null 2>&1; then
  promtool check rules prometheus/alerts.yml || fail=1
else
  note "promtool not installed: rule check skipped"
fi

exit "$fail"
