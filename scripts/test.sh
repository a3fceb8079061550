#!/usr/bin/env bash
# The test command (npm test): set up what is missing, then run every suite against a real
# Elasticsearch and, as root, the real kernel. `npm test -- unit` runs one suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Kubernetes API server and helm (long first builds) serve the integration and e2e suites only;
# the kernel matrix's Debian kernels, the kernels suite only.
needs_kube=1
needs_kernels=1
if [ $# -gt 0 ]; then
  needs_kube=0
  needs_kernels=0
  for suite in "$@"; do
    case "$suite" in
      integration|e2e) needs_kube=1 ;;
      kernels) needs_kernels=1 ;;
    esac
  done
fi
# `npm test` may have been started by an older node than engines asks for: from here on, node is
# the one node-env.sh chose (installed when needed), for bootstrap's build and for every suite.
source scripts/node-env.sh
PROCFLOW_BOOTSTRAP_KUBERNETES=$needs_kube PROCFLOW_BOOTSTRAP_KERNELS=$needs_kernels bash scripts/bootstrap.sh
exec node dist/test/run.js "$@"
