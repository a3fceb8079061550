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

# Node.js: the machine's when package.json's engines accepts it, else the one .node-version
# names, installed once (see node-env.sh). node, npm and node-gyp below all use it.
source scripts/node-env.sh
say "Node.js $(node -p process.versions.node) ($(command -v node))"

# npm dependencies, when the lock file changed since the last install, or the Node.js did (a
# dependency may build native code for it).
installed_with=node_modules/.procflow-node-version
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ "$(cat "$installed_with" 2>/dev/null)" != "$(node -p process.version)" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
  node -p process.version >"$installed_with"
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

# nscd and nss-resolve for the DNS tests of lookups through local resolvers: unpacked from
# Debian's packages into the cache, never installed (an installed nscd would serve the machine).
if [ "${npm_lifecycle_event:-}" != "start" ]; then
  say "checking the local resolvers the DNS tests drive (nscd, nss-resolve; unpacked, not installed)"
  node dist/local-services/resolvers.js --ensure
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

# Put `procflow` on PATH, as the README and the Interfaces table use it. As root that is
# /usr/local/bin/procflow, a three-line script that runs this checkout's bin/procflow.js with the
# node chosen above (the one it was built and tested with) whatever `node` comes first on a
# user's PATH. It changes nothing else: the machine's own node, npm and npx stay what they were
# for every other user and program (no links to the installed Node.js in /usr/local/bin), and
# `cat /usr/local/bin/procflow` shows what runs.
if [ "$(id -u)" -eq 0 ]; then
  quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
  launcher="$(printf '#!/bin/sh\n# Written by %s/scripts/bootstrap.sh: procflow with the Node.js it was built for.\nexec %s %s "$@"\n' \
    "$(pwd)" "$(quote "$(command -v node)")" "$(quote "$(pwd)/bin/procflow.js")")"
  if [ "$(cat /usr/local/bin/procflow 2>/dev/null)" != "$launcher" ]; then
    rm -f /usr/local/bin/procflow
    printf '%s\n' "$launcher" >/usr/local/bin/procflow
    chmod 755 /usr/local/bin/procflow
    say "wrote /usr/local/bin/procflow: runs $(pwd)/bin/procflow.js with $(command -v node)"
  fi
elif ! command -v procflow >/dev/null 2>&1; then
  say "procflow is not on PATH: run it as '$(command -v node) bin/procflow.js', or put $(dirname "$(command -v node)") first on PATH and run 'npm link' here"
fi
