#!/usr/bin/env bash
# Quick start, part two: set everything up and run the whole test suite,
# integration tests included, against a real Kafka broker that this script
# starts on 127.0.0.1 and always stops again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export AUTOMATIONS_KAFKA_HOME="${AUTOMATIONS_KAFKA_HOME:-$PWD/.kafka/test-broker}"
export AUTOMATIONS_BROKER_PORT="${AUTOMATIONS_BROKER_PORT:-29092}"
export AUTOMATIONS_REQUIRE_BROKER=1

stop_broker() { .venv/bin/python -m broker.kafka stop >/dev/null 2>&1 || true; }
trap stop_broker EXIT INT TERM

.venv/bin/python -m broker.kafka start --fresh --wait 120
.venv/bin/python -m pytest "$@"
