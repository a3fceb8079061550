#!/usr/bin/env bash
# npm start: set up what is missing, then run the whole stack locally (Elasticsearch, indexer,
# agent) with a live view. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node bin/procflow.js local "$@"
