"""Alibaba Cloud ApsaraVideo Live (视频直播) URLs signed with URL signing type A.

Pure functions: nothing here touches the network or reads the clock.

Documentation relied on
-----------------------
* Signed ingest and streaming URLs (推/播流地址鉴权),
  https://www.alibabacloud.com/help/en/live/user-guide/url-signing
  (zh-Hant edition: https://alibabacloud.com/help/tc/live/user-guide/url-signing):
  a signed URL is ``rtmp://DomainName/AppName/StreamName?auth_key=timestamp-rand-uid-md5hash``
  with ``md5hash = md5sum("URI-timestamp-rand-uid-PrivateKey")`` (32 lower-case hex
  characters). ``timestamp`` is a Unix time in seconds and "the expiration time of a
  signed URL is equal to the timestamp plus the validity period" configured for the
  domain: set timestamp = now + 3600 and the URL expires at now + 3600 + validity
  period. ``rand`` is "typically 0" (or a UUID *without hyphens* for unique URLs);
  ``uid`` is "not used, typically 0". Example for ingest URL
  ``rtmp://push.aliyundoc.com/app/stream``: the signed string is
  ``/app/stream-timestamp-rand-uid-<domain key>``. The page's worked example: URI
  ``/video/standard``, key ``aliyunliveexp1234``, timestamp ``1622194197``, rand and
  uid ``0`` gives a hash printed as starting ``5552ff52b5e``.
* Generate ingest and streaming URLs (生成推流地址和播放地址),
  https://help.aliyun.com/document_detail/57388.html and
  https://www.alibabacloud.com/help/en/live/user-guide/ingest-and-streaming-urls :
  ``rtmp://demo.aliyundoc.com/app/stream?auth_key={access token}`` for ingest; the
  ingest URL uses the ingest domain's key, playback URLs the streaming domain's key.
* PHP/Java sample code (视频直播生成推流和播放地址),
  https://help.aliyun.com/document_detail/456848.htm :
  the URI signed for each playback format includes its suffix,
  ``/app/stream`` (RTMP), ``/app/stream.flv`` (FLV), ``/app/stream.m3u8`` (HLS);
  with no key configured the URLs are unsigned; the sample sets
  ``timeStamp = time() + expireTime``.
* Python demo (URL signing demos), https://www.alibabacloud.com/help/doc-detail/57388.htm :
  ``rand = "0"``, ``uid = "0"`` by default.

Timestamp semantics (the subtle part)
-------------------------------------
The current docs define expiry = ``timestamp`` + the domain's URL-signing validity
period (console "有效时长", API argument ``ali_auth_delta``), while Alibaba's own
samples put the desired expiry in ``timestamp``. Both are honoured here: the builders
take the wanted *expiry_unix* and an optional *validity_seconds* (the domain's
configured period) and sign ``timestamp = expiry_unix - validity_seconds``. With the
default ``validity_seconds=0`` you get Alibaba's sample behaviour: the URL lives until
*expiry_unix* plus the domain's validity period.
"""

import hashlib
import re

from plugins.signing.names import (
    valid_app_name,
    valid_domain,
    valid_stream_name,
    valid_unix_time,
)

__all__ = ["auth_timestamp", "play_urls", "push_url", "sign_uri", "valid_stream_name"]

_FIELD_RE = re.compile(r"[A-Za-z0-9]+")
_URI_RE = re.compile(r"/[A-Za-z0-9._~/-]*")
_PLAY_SCHEMES = frozenset({"http", "https"})


def sign_uri(
    uri: str,
    private_key: str,
    timestamp: int,
    rand: str = "0",
    uid: str = "0",
) -> str:
    """Return the type-A ``auth_key`` value for *uri*.

    ``auth_key = f"{timestamp}-{rand}-{uid}-{md5hash}"`` where
    ``md5hash = md5(f"{uri}-{timestamp}-{rand}-{uid}-{private_key}")`` in lower-case
    hex. *uri* is the request path after the domain, starting with ``/`` and without
    query parameters (e.g. ``/app/stream`` for RTMP, ``/app/stream.m3u8`` for HLS).
    *timestamp* is the decimal Unix time to sign (see the module docstring for how it
    relates to expiry). *rand* and *uid* default to ``"0"`` as in the docs; they must be
    ASCII letters/digits (the docs forbid ``-``, which separates the fields).
    """
    if not isinstance(uri, str) or _URI_RE.fullmatch(uri) is None:
        raise ValueError(f"uri must be a plain path starting with '/', got {uri!r}")
    if not isinstance(private_key, str) or not private_key:
        raise ValueError("a non-empty private key is required to sign")
    valid_unix_time(timestamp, "timestamp")
    for what, value in (("rand", rand), ("uid", uid)):
        if not isinstance(value, str) or _FIELD_RE.fullmatch(value) is None:
            raise ValueError(f"{what} must be ASCII letters/digits (no '-'), got {value!r}")
    sstring = f"{uri}-{timestamp}-{rand}-{uid}-{private_key}"
    # MD5 is mandated by the provider; usedforsecurity=False only keeps FIPS-mode
    # Python builds from refusing to compute it.
    md5hash = hashlib.md5(sstring.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{timestamp}-{rand}-{uid}-{md5hash}"


def auth_timestamp(expiry_unix: int, validity_seconds: int = 0) -> int:
    """Return the ``timestamp`` to sign so that the URL expires at *expiry_unix*.

    Alibaba adds the domain's configured validity period to the signed timestamp,
    so this is ``expiry_unix - validity_seconds``.
    """
    valid_unix_time(expiry_unix)
    valid_unix_time(validity_seconds, "validity_seconds")
    timestamp = expiry_unix - validity_seconds
    if timestamp < 0:
        raise ValueError("validity_seconds is larger than expiry_unix")
    return timestamp


def push_url(
    push_domain: str,
    app: str,
    stream: str,
    private_key: str | None,
    expiry_unix: int,
    *,
    validity_seconds: int = 0,
    rand: str = "0",
) -> str:
    """Return the RTMP ingest URL ``rtmp://{domain}/{app}/{stream}?auth_key=...``.

    The signed URI is ``/{app}/{stream}``. *private_key* is the ingest domain's
    primary or secondary key; ``None`` (URL signing disabled) yields an unsigned URL
    and ignores *expiry_unix*. See the module docstring for *validity_seconds*.
    """
    valid_domain(push_domain)
    valid_app_name(app)
    valid_stream_name(stream)
    uri = f"/{app}/{stream}"
    if private_key is None:
        return f"rtmp://{push_domain}{uri}"
    timestamp = auth_timestamp(expiry_unix, validity_seconds)
    return f"rtmp://{push_domain}{uri}?auth_key={sign_uri(uri, private_key, timestamp, rand)}"


def play_urls(
    play_domain: str,
    app: str,
    stream: str,
    private_key: str | None,
    expiry_unix: int,
    scheme: str = "https",
    *,
    validity_seconds: int = 0,
    rand: str = "0",
) -> dict[str, str]:
    """Build viewer playback URLs for one stream.

    Returns a dict with keys (each signed over its own URI):

    * ``"hls"``: ``{scheme}://{domain}/{app}/{stream}.m3u8?auth_key=...``
      (URI ``/{app}/{stream}.m3u8``)
    * ``"flv"``: ``{scheme}://{domain}/{app}/{stream}.flv?auth_key=...``
      (URI ``/{app}/{stream}.flv``)
    * ``"rtmp"``: ``rtmp://{domain}/{app}/{stream}?auth_key=...`` (URI ``/{app}/{stream}``)

    *private_key* is the streaming (playback) domain's key; ``None`` yields unsigned
    URLs and ignores *expiry_unix*. For a transcoded rendition pass
    ``"{stream}_{template_id}"`` as *stream*. See the module docstring for
    *validity_seconds*.
    """
    valid_domain(play_domain)
    valid_app_name(app)
    valid_stream_name(stream)
    if scheme not in _PLAY_SCHEMES:
        raise ValueError(f"scheme must be 'http' or 'https', got {scheme!r}")
    uris = {
        "hls": (scheme, f"/{app}/{stream}.m3u8"),
        "flv": (scheme, f"/{app}/{stream}.flv"),
        "rtmp": ("rtmp", f"/{app}/{stream}"),
    }
    if private_key is None:
        return {name: f"{sch}://{play_domain}{uri}" for name, (sch, uri) in uris.items()}
    timestamp = auth_timestamp(expiry_unix, validity_seconds)
    return {
        name: f"{sch}://{play_domain}{uri}?auth_key={sign_uri(uri, private_key, timestamp, rand)}"
        for name, (sch, uri) in uris.items()
    }
