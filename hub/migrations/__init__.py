"""The hub's migrations (Piccolo), and the one helper the hand-written ones share."""

from collections.abc import Awaitable, Callable, Sequence

from piccolo.engine import engine_finder


def run_statements(statements: Sequence[str]) -> Callable[[], Awaitable[None]]:
    """A raw migration step that runs ``statements`` in order on the project's engine."""

    async def run() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements:
            await engine.run_ddl(statement)

    return run
