"""The self-hosted streaming provider: SRT and RTMP ingest without a cloud account."""
