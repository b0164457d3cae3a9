#!/usr/bin/env bash
# Runs the test suite. PostgreSQL tests use SHAREHUB_TEST_PG_URL; when it is unset, a throw-away
# database on the local server is made for them (and they are reported skipped if there is none).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SHAREHUB_TEST_PG_URL:-}" ]; then
    SHAREHUB_TEST_PG_URL=$(SHAREHUB_TEST_PG_OWNER=$$ ./scripts/test-postgres.sh || true)
    export SHAREHUB_TEST_PG_URL
fi
echo "PostgreSQL for tests: ${SHAREHUB_TEST_PG_URL:-none (PostgreSQL tests will be skipped)}"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -rs "$@"
