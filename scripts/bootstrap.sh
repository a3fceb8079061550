#!/usr/bin/env bash
# Installs everything procflow needs on a fresh Debian machine, then builds it. Idempotent and
# quick when nothing changed. Used by `npm start`, `npm test` and CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'bootstrap: %s\n' "$*" >&2; }

# Debian packages: the base tools plus whatever the kernel build lists.
pkgs=(ca-certificates curl unzip maven python3 make g++ pkg-config openssl strace)
# The kernel matrix (test/matrix): qemu boots Debian kernels with a static busybox as init;
# xz-utils unpacks trixie's compressed modules.
pkgs+=(qemu-system-x86 busybox-static xz-utils)
if [ -f native/apt-packages.txt ]; then
  while read -r p; do [ -n "$p" ] && [ "${p#\#}" = "$p" ] && pkgs+=("$p"); done < native/apt-packages.txt
fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and run again"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies, when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

say "building (TypeScript, BPF programs, native addon)"
npm run --silent build

say "checking the local Elasticsearch distribution"
node dist/local-services/prefetch.js

# The tests' Kubernetes API server (kube-apiserver + etcd built with Go from the module proxy),
# and helm.
# The first build takes a long while on two cores and prints progress every 30 s; after that
# this is instant. `npm start` and `npm test -- unit` do not need it, so they skip it.
if [ "${npm_lifecycle_event:-}" != "start" ] && [ "${PROCFLOW_BOOTSTRAP_KUBERNETES:-1}" = "1" ]; then
  say "checking the local Kubernetes API server (tests; the first build takes ~15 minutes on 2 cores)"
  node dist/local-services/kubernetes.js --ensure
  # helm for the chart's tests (deploy/helm), built the same way; a few minutes the first time.
  say "checking helm (tests of deploy/helm; the first build takes a few minutes)"
  node dist/local-services/helm.js --ensure
fi

# The kernel matrix's Debian kernels (bullseye, bookworm, trixie; about 230 MB, once), for the
# `kernels` test suite. `npm start` and test runs of other suites skip it.
if [ "${npm_lifecycle_event:-}" != "start" ] && [ "${PROCFLOW_BOOTSTRAP_KERNELS:-1}" = "1" ]; then
  say "checking the kernel matrix's Debian kernels (tests; the first fetch downloads about 230 MB)"
  if ! node dist/test/matrix/kernels.js --ensure; then
    [ "${CI:-}" = "true" ] && exit 1
    say "the kernel matrix's kernels are not available; the kernels suite will skip them"
  fi
fi

# Put `procflow` on PATH, as the README and the Interfaces table use it.
if [ "$(id -u)" -eq 0 ]; then
  target="$(pwd)/bin/procflow.js"
  if [ "$(readlink /usr/local/bin/procflow 2>/dev/null)" != "$target" ]; then
    ln -sf "$target" /usr/local/bin/procflow
    say "linked /usr/local/bin/procflow -> $target"
  fi
elif ! command -v procflow >/dev/null 2>&1; then
  say "procflow is not on PATH: run 'npm link' here, or use ./bin/procflow.js"
fi
