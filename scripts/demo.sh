#!/usr/bin/env bash
# Quick start, part one: set everything up and run the demo end to end
# (a local broker, a worker, the example automations and events, then the
# resulting runs and actions read back from Kafka). Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/automations demo "$@"
