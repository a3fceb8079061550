#!/usr/bin/env bash
# The test command (npm test): set up what is missing, then run every suite against a real
# Elasticsearch and, as root, the real kernel. `npm test -- unit` runs one suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node dist/test/run.js "$@"
