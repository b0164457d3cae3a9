"""URL signing for the hosted live-streaming providers (pure functions, no network)."""
