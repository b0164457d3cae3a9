# The two set-up commands of the README. Both install what they need on a fresh machine.
.PHONY: demo test lint

demo:  ## run the hub with demo data on the embedded default (SQLite + local storage)
	./scripts/setup.sh
	.venv/bin/sharehub demo --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test:  ## run the whole test suite on SQLite and PostgreSQL
	./scripts/setup.sh --test
	./scripts/test.sh

lint:
	.venv/bin/ruff check .
