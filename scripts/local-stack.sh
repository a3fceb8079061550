#!/usr/bin/env bash
# npm start: set up what is missing, then run the whole stack locally (Elasticsearch, indexer,
# agent) with a live view. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
# node: the one node-env.sh chose (installed when the machine's is older than engines asks for).
source scripts/node-env.sh
bash scripts/bootstrap.sh
exec node bin/procflow.js local "$@"
