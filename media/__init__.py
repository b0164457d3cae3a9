"""Sharehub media worker: ffmpeg commands, recorder, finalizer and object storage."""
