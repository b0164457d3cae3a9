"""Tests for plugins.signing: Tencent Cloud CSS txSecret and Alibaba Cloud auth_key type A.

Expected values are either copied from the providers' published worked examples (URL
given next to each) or recomputed here with hashlib, step by step, from the documented
formula; never by calling the code under test.
"""

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from plugins.signing import aliyun, tencent
from plugins.signing.names import valid_stream_name


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- Tencent

# Worked example from "Hotlink Protection URL Calculation",
# https://www.tencentcloud.com/document/product/267/31560 :
#   KEY = e12c46f2612d5106e2034781ab261ca3, StreamName = test, txTime = 5C271099
#   txSecret = MD5(e12c46f2612d5106e2034781ab261ca3test5C271099)
#            = f85a2ab363fe4deaffef9754d79da6fe
#   rtmp://livepush.tcloud.com/live/test?txSecret=f85a2ab363fe4deaffef9754d79da6fe&txTime=5C271099
TX_DOC_KEY = "e12c46f2612d5106e2034781ab261ca3"
TX_DOC_EXPIRY = 0x5C271099  # = 1546064025
TX_DOC_SECRET = "f85a2ab363fe4deaffef9754d79da6fe"


def test_tencent_doc_example_tx_time_and_secret() -> None:
    assert TX_DOC_EXPIRY == 1546064025
    assert tencent.tx_time(TX_DOC_EXPIRY) == "5C271099"
    assert tencent.tx_secret(TX_DOC_KEY, "test", TX_DOC_EXPIRY) == TX_DOC_SECRET


def test_tencent_doc_example_rtmp_push_url() -> None:
    urls = tencent.push_urls("livepush.tcloud.com", "live", "test", TX_DOC_KEY, TX_DOC_EXPIRY)
    assert urls["rtmp"] == (
        "rtmp://livepush.tcloud.com/live/test"
        "?txSecret=f85a2ab363fe4deaffef9754d79da6fe&txTime=5C271099"
    )


def test_tencent_doc_tx_time_example_2017() -> None:
    # https://cloud.tencent.com/document/product/267/32720 : "5867D600代表2017年1月1日0时0分0秒过期"
    # 2017-01-01 00:00:00 UTC+8 == 2016-12-31 16:00:00 UTC == 1483200000
    assert tencent.tx_time(1483200000) == "5867D600"


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [(0, "0"), (9, "9"), (10, "A"), (255, "FF"), (0xABCDEF01, "ABCDEF01"), (2**32, "100000000")],
)
def test_tencent_tx_time_is_uppercase_hex_without_prefix(expiry: int, expected: str) -> None:
    out = tencent.tx_time(expiry)
    assert out == expected
    assert not out.lower().startswith("0x")
    assert out == out.upper()
    assert int(out, 16) == expiry


@pytest.mark.parametrize("bad", [-1, 1.5, "5C271099", None, True])
def test_tencent_tx_time_rejects_bad_expiry(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        tencent.tx_time(bad)  # type: ignore[arg-type]


def test_tencent_push_urls_independent_hash() -> None:
    key, domain, app, stream, expiry = (
        "pushKey123",
        "push.example.cn",
        "live",
        "class-42",
        1735689600,
    )
    tx_time = hex(expiry)[2:].upper()  # "67748580"
    assert tx_time == "67748580"
    secret = md5_hex(key + stream + tx_time)
    urls = tencent.push_urls(domain, app, stream, key, expiry)
    assert set(urls) == {"rtmp", "srt", "webrtc"}
    q = f"txSecret={secret}&txTime={tx_time}"
    assert urls["rtmp"] == f"rtmp://push.example.cn/live/class-42?{q}"
    assert urls["webrtc"] == f"webrtc://push.example.cn/live/class-42?{q}"
    # SRT form documented at https://www.tencentcloud.com/zh/document/product/267/38393 :
    # srt://domain:9000?streamid=#!::h=domain,r=AppName/StreamName,txSecret=...,txTime=...
    assert urls["srt"] == (
        "srt://push.example.cn:9000?streamid=#!::h=push.example.cn,r=live/class-42,"
        f"txSecret={secret},txTime={tx_time}"
    )


def test_tencent_push_urls_unsigned_without_key() -> None:
    urls = tencent.push_urls("push.example.cn", "live", "s1", None, 0)
    assert urls == {
        "rtmp": "rtmp://push.example.cn/live/s1",
        "srt": "srt://push.example.cn:9000?streamid=#!::h=push.example.cn,r=live/s1",
        "webrtc": "webrtc://push.example.cn/live/s1",
    }


def test_tencent_play_urls_signed() -> None:
    key, expiry = "playKey!", 1700000000
    tx_time = "6553F100"
    assert int(tx_time, 16) == expiry
    secret = md5_hex("playKey!" + "class-42" + tx_time)
    urls = tencent.play_urls("play.example.cn", "live", "class-42", key, expiry)
    assert urls == {
        "hls": f"https://play.example.cn/live/class-42.m3u8?txSecret={secret}&txTime={tx_time}",
        "flv": f"https://play.example.cn/live/class-42.flv?txSecret={secret}&txTime={tx_time}",
    }
    query = parse_qs(urlsplit(urls["hls"]).query)
    assert query == {"txSecret": [secret], "txTime": [tx_time]}


def test_tencent_play_urls_unsigned_and_http() -> None:
    urls = tencent.play_urls("play.example.cn", "live", "s1", None, 0, scheme="http")
    assert urls == {
        "hls": "http://play.example.cn/live/s1.m3u8",
        "flv": "http://play.example.cn/live/s1.flv",
    }
    assert all("?" not in u for u in urls.values())


def test_tencent_play_urls_validity_seconds_shifts_tx_time() -> None:
    # Playback really ends at txTime + the domain's validity period (doc 267/31560),
    # so validity_seconds is subtracted before signing.
    urls = tencent.play_urls("play.example.cn", "live", "s1", "k", 1000, validity_seconds=100)
    tx_time = hex(900)[2:].upper()  # "384"
    assert parse_qs(urlsplit(urls["flv"]).query) == {
        "txSecret": [md5_hex("k" + "s1" + tx_time)],
        "txTime": [tx_time],
    }
    with pytest.raises(ValueError):
        tencent.play_urls("play.example.cn", "live", "s1", "k", 10, validity_seconds=11)


def test_tencent_play_urls_rejects_other_schemes() -> None:
    with pytest.raises(ValueError):
        tencent.play_urls("play.example.cn", "live", "s1", None, 0, scheme="rtmp")


def test_tencent_empty_key_is_an_error_not_unsigned() -> None:
    with pytest.raises(ValueError):
        tencent.push_urls("push.example.cn", "live", "s1", "", 1)
    with pytest.raises(ValueError):
        tencent.tx_secret("", "s1", 1)


def test_tencent_key_hashed_as_utf8() -> None:
    assert tencent.tx_secret("密钥", "s1", 16) == md5_hex("密钥s110")


# --------------------------------------------------------------------------- Alibaba

# Worked example from the ApsaraVideo Live URL-signing page (zh/zh-Hant editions, e.g.
# https://alibabacloud.com/help/tc/live/user-guide/url-signing , "示例说明"):
#   request rtmp://demo.aliyundoc.com/video/standard, key aliyunliveexp1234,
#   rand = uid = 0, timestamp 1622194197 ->
#   sstring "/video/standard-1622194197-0-0-aliyunliveexp1234",
#   HashValue printed (truncated in the copy consulted) as "5552ff52b5e...".
ALI_DOC_SSTRING = "/video/standard-1622194197-0-0-aliyunliveexp1234"
ALI_DOC_HASH_PREFIX = "5552ff52b5e"


def test_aliyun_doc_example_sign_uri() -> None:
    full = md5_hex(ALI_DOC_SSTRING)
    assert full.startswith(ALI_DOC_HASH_PREFIX)
    auth_key = aliyun.sign_uri("/video/standard", "aliyunliveexp1234", 1622194197)
    assert auth_key == f"1622194197-0-0-{full}"
    assert auth_key.split("-")[3].startswith(ALI_DOC_HASH_PREFIX)


def test_aliyun_doc_example_push_url() -> None:
    url = aliyun.push_url(
        "demo.aliyundoc.com", "video", "standard", "aliyunliveexp1234", 1622194197
    )
    assert url == (
        "rtmp://demo.aliyundoc.com/video/standard?auth_key=1622194197-0-0-"
        + md5_hex(ALI_DOC_SSTRING)
    )


def test_type_a_published_example_with_random_rand() -> None:
    # Cross-vendor check of the same "type A" formula with a non-zero rand, from Huawei
    # Cloud Live's "Key防盗链: 鉴权方式A" page
    # (https://support.huaweicloud.com/iLive-live/live_01_0049.html family):
    #   md5sum("/livetest/huawei1.flv-1592639100-477b3bbc253f467b8def6711128c7bec-0-"
    #          "GCTbw44s6MPLh4GqgDpnfuFHgy25Enly") = dd1b5ffa00cf26acec0c169ae1cfabea
    rand = "477b3bbc253f467b8def6711128c7bec"
    assert (
        aliyun.sign_uri(
            "/livetest/huawei1.flv", "GCTbw44s6MPLh4GqgDpnfuFHgy25Enly", 1592639100, rand=rand
        )
        == f"1592639100-{rand}-0-dd1b5ffa00cf26acec0c169ae1cfabea"
    )


def test_aliyun_play_urls_sign_each_uri_with_its_suffix() -> None:
    key, ts = "playKey2024", 1735689600
    urls = aliyun.play_urls("play.example.cn", "app1", "class-42", key, ts)
    assert set(urls) == {"hls", "flv", "rtmp"}
    h_hls = md5_hex(f"/app1/class-42.m3u8-{ts}-0-0-{key}")
    h_flv = md5_hex(f"/app1/class-42.flv-{ts}-0-0-{key}")
    h_rtmp = md5_hex(f"/app1/class-42-{ts}-0-0-{key}")
    assert len({h_hls, h_flv, h_rtmp}) == 3
    assert urls["hls"] == f"https://play.example.cn/app1/class-42.m3u8?auth_key={ts}-0-0-{h_hls}"
    assert urls["flv"] == f"https://play.example.cn/app1/class-42.flv?auth_key={ts}-0-0-{h_flv}"
    assert urls["rtmp"] == f"rtmp://play.example.cn/app1/class-42?auth_key={ts}-0-0-{h_rtmp}"
    assert parse_qs(urlsplit(urls["hls"]).query) == {"auth_key": [f"{ts}-0-0-{h_hls}"]}


def test_aliyun_play_urls_unsigned() -> None:
    urls = aliyun.play_urls("play.example.cn", "app1", "s1", None, 0, scheme="http")
    assert urls == {
        "hls": "http://play.example.cn/app1/s1.m3u8",
        "flv": "http://play.example.cn/app1/s1.flv",
        "rtmp": "rtmp://play.example.cn/app1/s1",
    }


def test_aliyun_push_url_unsigned() -> None:
    assert (
        aliyun.push_url("push.example.cn", "app1", "s1", None, 0)
        == "rtmp://push.example.cn/app1/s1"
    )


def test_aliyun_validity_seconds_subtracted_from_timestamp() -> None:
    # Docs: expiry = timestamp + the domain's URL-signing validity period.
    expiry, validity = 1_700_003_600, 1800
    url = aliyun.push_url("push.example.cn", "app1", "s1", "k", expiry, validity_seconds=validity)
    ts = expiry - validity
    assert url == f"rtmp://push.example.cn/app1/s1?auth_key={ts}-0-0-" + md5_hex(
        f"/app1/s1-{ts}-0-0-k"
    )
    assert aliyun.auth_timestamp(expiry) == expiry
    with pytest.raises(ValueError):
        aliyun.auth_timestamp(10, 11)


def test_aliyun_timestamp_is_decimal() -> None:
    assert aliyun.sign_uri("/a/b", "k", 255).startswith("255-0-0-")


@pytest.mark.parametrize("bad_rand", ["", "a-b", "uuid-with-hyphens", "a b", "é"])
def test_aliyun_rejects_rand_that_would_break_the_token(bad_rand: str) -> None:
    with pytest.raises(ValueError):
        aliyun.sign_uri("/a/b", "k", 1, rand=bad_rand)


@pytest.mark.parametrize("bad_uri", ["a/b", "", "/a/b?x=1", "/a b", "/a/b#f", "//x\n"])
def test_aliyun_rejects_bad_uri(bad_uri: str) -> None:
    with pytest.raises(ValueError):
        aliyun.sign_uri(bad_uri, "k", 1)


def test_aliyun_empty_key_and_bad_timestamp() -> None:
    with pytest.raises(ValueError):
        aliyun.sign_uri("/a/b", "", 1)
    with pytest.raises(ValueError):
        aliyun.sign_uri("/a/b", "k", -5)
    with pytest.raises(TypeError):
        aliyun.sign_uri("/a/b", "k", 1.0)  # type: ignore[arg-type]


def test_aliyun_play_urls_rejects_other_schemes() -> None:
    with pytest.raises(ValueError):
        aliyun.play_urls("play.example.cn", "app1", "s1", None, 0, scheme="ftp")


# ------------------------------------------------------------------ name validation

GOOD_NAMES = ["a", "class-42", "Math_101", "ABC-def_123", "0", "-_-"]
BAD_NAMES = [
    "",
    "has space",
    "slash/inside",
    "dot.m3u8",
    "q?x=1",
    "amp&txTime=0",
    "hash#frag",
    "pct%20",
    "中文",
    "café",
    "tab\t",
    "trailing-newline\n",
    "plus+",
    "comma,r=x",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_stream_name_accepts(name: str) -> None:
    assert valid_stream_name(name) == name
    assert tencent.valid_stream_name(name) == name
    assert aliyun.valid_stream_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_valid_stream_name_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        valid_stream_name(name)


def test_valid_stream_name_rejects_non_str() -> None:
    with pytest.raises(ValueError):
        valid_stream_name(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_builders_never_quote_they_reject(name: str) -> None:
    """Unusual characters are refused up front rather than percent-encoded, because the
    providers sign the raw name and don't document how an encoded name is verified."""
    calls = [
        lambda: tencent.push_urls("p.example.cn", "live", name, "k", 1),
        lambda: tencent.play_urls("p.example.cn", "live", name, None, 1),
        lambda: tencent.tx_secret("k", name, 1),
        lambda: aliyun.push_url("p.example.cn", "app", name, "k", 1),
        lambda: aliyun.play_urls("p.example.cn", "app", name, None, 1),
        # the app name is held to the same rule
        lambda: tencent.push_urls("p.example.cn", name, "s1", None, 1),
        lambda: aliyun.play_urls("p.example.cn", name, "s1", "k", 1),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "rtmp://push.example.cn",
        "push.example.cn/live",
        "push.example.cn:1935",
        "-bad.cn",
        "a..b",
        "spa ce.cn",
        "push.example.cn.",
    ],
)
def test_builders_reject_non_host_domains(domain: str) -> None:
    with pytest.raises(ValueError):
        tencent.push_urls(domain, "live", "s1", None, 1)
    with pytest.raises(ValueError):
        aliyun.push_url(domain, "app", "s1", None, 1)
