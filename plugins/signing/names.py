"""Validation shared by the live-streaming URL signers.

Both Tencent Cloud CSS (``txSecret``) and Alibaba Cloud ApsaraVideo Live (``auth_key``)
sign the *raw* path pieces (StreamName, or ``/AppName/StreamName``). Neither provider
documents whether a percent-encoded name is signed before or after decoding, so rather
than quoting unusual characters we only accept names that never need quoting:
ASCII letters, digits, ``_`` and ``-``. Both providers recommend letters and digits
(Tencent: "推荐用随机数字或数字与字母组合",
https://cloud.tencent.com/document/product/267/32720).

Note for Tencent: a transcoded stream is played as ``StreamName_<template>``, so an
underscore inside a stream name can be confused with a transcoding suffix; prefer
``-`` as the separator in names you generate.
"""

import re

__all__ = ["valid_app_name", "valid_domain", "valid_stream_name", "valid_unix_time"]

_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def valid_stream_name(name: str) -> str:
    """Return *name* unchanged if it is a safe StreamName, else raise ``ValueError``.

    A safe name is non-empty and made only of ``[A-Za-z0-9_-]`` (ASCII), so it can be
    put into a URL path and into a signature string without any quoting.
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid stream name {name!r}: use 1+ ASCII letters, digits, '_' or '-'")
    return name


def valid_app_name(name: str) -> str:
    """Return *name* unchanged if it is a safe AppName (same rule as stream names)."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid app name {name!r}: use 1+ ASCII letters, digits, '_' or '-'")
    return name


def valid_domain(domain: str) -> str:
    """Return *domain* unchanged if it is a bare host name, else raise ``ValueError``.

    Rejects schemes, ports, paths and anything else that is not a DNS name
    (``"rtmp://push.example.com"`` or ``"push.example.com/live"`` are errors).
    """
    if not isinstance(domain, str) or len(domain) > 253 or _HOST_RE.fullmatch(domain) is None:
        raise ValueError(f"invalid domain {domain!r}: expected a bare host name")
    return domain


def valid_unix_time(value: int, what: str = "expiry_unix") -> int:
    """Return *value* if it is a non-negative ``int`` Unix time in seconds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int Unix timestamp in seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value
