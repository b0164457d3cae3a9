"""Tencent Cloud CSS (云直播) push and playback URLs with hotlink protection (防盗链).

Pure functions: nothing here touches the network or reads the clock.

Documentation relied on
-----------------------
* Hotlink Protection URL Calculation (推流防盗链计算),
  https://www.tencentcloud.com/document/product/267/31560 :
  ``txTime`` is the URL's expiry as a Unix timestamp written in hexadecimal;
  ``txSecret = MD5(KEY + StreamName + txTime)``. Worked example:
  KEY ``e12c46f2612d5106e2034781ab261ca3``, StreamName ``test``, txTime ``5C271099``
  gives ``txSecret = f85a2ab363fe4deaffef9754d79da6fe`` and the push URL
  ``rtmp://livepush.tcloud.com/live/test?txSecret=f85a2ab363fe4deaffef9754d79da6fe&txTime=5C271099``.
  The same page notes that for playback "the actual final end time of the playback
  address is txTime plus the validity period of the authentication key"
  (see ``validity_seconds`` below).
* Splicing Live Streaming URLs (自主拼装直播 URL),
  https://cloud.tencent.com/document/product/267/32720 and
  https://www.tencentcloud.com/zh/document/product/267/38393 :
  push forms ``rtmp://domain/AppName/StreamName?txSecret=..&txTime=..``,
  ``webrtc://domain/AppName/StreamName?txSecret=..&txTime=..`` and
  ``srt://domain:9000?streamid=#!::h=domain,r=AppName/StreamName,txSecret=..,txTime=..``;
  playback forms ``http(s)://domain/AppName/StreamName.flv?txSecret=..&txTime=..`` and
  ``http(s)://domain/AppName/StreamName.m3u8?txSecret=..&txTime=..``; txTime example
  ``5867D600`` = 2017-01-01 00:00:00 (UTC+8). If authentication is disabled the URL
  carries no ``?`` part. For a transcoded stream the signed StreamName is
  ``StreamName_<template>``, i.e. whatever stream name appears in the URL.
* Playback Authentication Configuration,
  https://www.tencentcloud.com/document/product/267/31060 :
  playback keys and the signature validity period are set per playback domain.

Push and playback use *different* keys (the push domain's key vs. the playback
domain's key); pass the right one to each function.
"""

import hashlib

from plugins.signing.names import (
    valid_app_name,
    valid_domain,
    valid_stream_name,
    valid_unix_time,
)

__all__ = ["play_urls", "push_urls", "tx_secret", "tx_time", "valid_stream_name"]

#: UDP port of Tencent's documented SRT push form.
SRT_PORT = 9000

_PLAY_SCHEMES = frozenset({"http", "https"})


def tx_time(expiry_unix: int) -> str:
    """Return ``txTime``: the Unix time *expiry_unix* in upper-case hex, no ``0x``.

    >>> tx_time(1483200000)  # 2017-01-01 00:00:00 UTC+8, Tencent's own example
    '5867D600'
    """
    return format(valid_unix_time(expiry_unix), "X")


def tx_secret(key: str, stream_name: str, expiry_unix: int) -> str:
    """Return ``txSecret`` = lower-case hex ``MD5(key + StreamName + txTime)``.

    *key* is the domain's hotlink-protection key, *stream_name* the StreamName exactly
    as it appears in the URL, and *expiry_unix* the Unix time used for ``txTime``
    (see :func:`tx_time`). The concatenation is hashed as UTF-8.
    """
    _require_key(key)
    valid_stream_name(stream_name)
    plain = key + stream_name + tx_time(expiry_unix)
    # MD5 is mandated by the provider; usedforsecurity=False only keeps FIPS-mode
    # Python builds from refusing to compute it.
    return hashlib.md5(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def _require_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a non-empty hotlink-protection key is required to sign")


def _signed_time(expiry_unix: int, validity_seconds: int) -> int:
    valid_unix_time(expiry_unix)
    valid_unix_time(validity_seconds, "validity_seconds")
    signed = expiry_unix - validity_seconds
    if signed < 0:
        raise ValueError("validity_seconds is larger than expiry_unix")
    return signed


def _auth(key: str, stream_name: str, signed_time: int) -> tuple[str, str]:
    return tx_secret(key, stream_name, signed_time), tx_time(signed_time)


def push_urls(
    push_domain: str,
    app_name: str,
    stream_name: str,
    key: str | None,
    expiry_unix: int,
) -> dict[str, str]:
    """Build the publisher's ingest URLs for one stream.

    Returns a dict with keys:

    * ``"rtmp"``: ``rtmp://{domain}/{app}/{stream}?txSecret={s}&txTime={t}``
    * ``"srt"``: ``srt://{domain}:9000?streamid=#!::h={domain},r={app}/{stream},txSecret={s},txTime={t}``
    * ``"webrtc"``: ``webrtc://{domain}/{app}/{stream}?txSecret={s}&txTime={t}``

    ``txTime`` is *expiry_unix* in hex: the push URL stops being accepted after it (a
    publisher already streaming is not cut off; choose an expiry that covers
    reconnects, Tencent suggests about 24 hours ahead). With ``key=None`` (push
    authentication disabled on the domain) the URLs carry no signature and
    *expiry_unix* is ignored.

    Raises ``ValueError`` for a malformed domain, app or stream name, or empty key.
    """
    valid_domain(push_domain)
    valid_app_name(app_name)
    valid_stream_name(stream_name)
    path = f"{app_name}/{stream_name}"
    srt_base = f"srt://{push_domain}:{SRT_PORT}?streamid=#!::h={push_domain},r={path}"
    if key is None:
        return {
            "rtmp": f"rtmp://{push_domain}/{path}",
            "srt": srt_base,
            "webrtc": f"webrtc://{push_domain}/{path}",
        }
    secret, txt = _auth(key, stream_name, valid_unix_time(expiry_unix))
    query = f"txSecret={secret}&txTime={txt}"
    return {
        "rtmp": f"rtmp://{push_domain}/{path}?{query}",
        "srt": f"{srt_base},txSecret={secret},txTime={txt}",
        "webrtc": f"webrtc://{push_domain}/{path}?{query}",
    }


def play_urls(
    play_domain: str,
    app_name: str,
    stream_name: str,
    key: str | None,
    expiry_unix: int,
    scheme: str = "https",
    *,
    validity_seconds: int = 0,
) -> dict[str, str]:
    """Build viewer playback URLs for one stream.

    Returns a dict with keys:

    * ``"hls"``: ``{scheme}://{domain}/{app}/{stream}.m3u8?txSecret={s}&txTime={t}``
    * ``"flv"``: ``{scheme}://{domain}/{app}/{stream}.flv?txSecret={s}&txTime={t}``

    *stream_name* is signed as written, so for a transcoded rendition pass
    ``"{stream}_{template}"``. With ``key=None`` (playback authentication off) the
    URLs are unsigned and *expiry_unix* is ignored.

    Tencent documents that a playback URL really ends at ``txTime`` plus the
    playback domain's configured signature validity period. Pass that period as
    *validity_seconds* to sign ``txTime = expiry_unix - validity_seconds`` so the URL
    ends at *expiry_unix*; with the default ``0`` it ends up to that period later.

    Raises ``ValueError`` for a malformed domain/app/stream name, an empty key, a
    scheme other than ``http``/``https``, or ``validity_seconds > expiry_unix``.
    """
    valid_domain(play_domain)
    valid_app_name(app_name)
    valid_stream_name(stream_name)
    if scheme not in _PLAY_SCHEMES:
        raise ValueError(f"scheme must be 'http' or 'https', got {scheme!r}")
    base = f"{scheme}://{play_domain}/{app_name}/{stream_name}"
    if key is None:
        return {"hls": f"{base}.m3u8", "flv": f"{base}.flv"}
    secret, txt = _auth(key, stream_name, _signed_time(expiry_unix, validity_seconds))
    query = f"txSecret={secret}&txTime={txt}"
    return {"hls": f"{base}.m3u8?{query}", "flv": f"{base}.flv?{query}"}
