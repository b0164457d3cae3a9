# The two set-up commands of the README. Both install what they need on a fresh machine.
.PHONY: demo test test-fast lint

demo:  ## run the hub with demo data on the embedded default (SQLite + local storage)
	./scripts/setup.sh
	.venv/bin/sharehub demo --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test:  ## run the whole test suite on SQLite and PostgreSQL
	./scripts/setup.sh --test
	./scripts/test.sh

test-fast:  ## the quick local loop: SQLite only, without media, browser and fault tests
	./scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -m "not slow" -k "not postgres and not cluster" \
		--ignore=tests/media --ignore=tests/browser --ignore=tests/e2e --ignore=tests/faults

lint:
	.venv/bin/ruff check .
