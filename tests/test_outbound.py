"""The URL guard (``hub.outbound``): every SSRF case of issue 13, at save time (the API,
a 400 naming ``provider_settings.pull_url``) and at record time (the resolved address,
ffmpeg's protocol whitelist and no redirects, with a real ffmpeg)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hub import outbound
from hub.outbound import Allow, Refused, check_url
from hub.settings import Settings
from hub.streaming import RecordingSource
from media.commands import record_hls_cmd
from tests.conftest import World

INTERNAL = [
    "http://127.0.0.1:8080/live.flv",
    "http://127.1/live.flv",  # inet_aton forms ffmpeg's resolver accepts
    "http://2130706433/live.flv",
    "http://0x7f000001/live.flv",
    "http://0.0.0.0:1935/x",
    "http://localhost/x",
    "http://stream.localhost/x",
    "rtmp://10.1.2.3/live/a",
    "rtmp://172.16.0.9/live/a",
    "http://192.168.1.1/a.m3u8",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/a.m3u8",  # carrier-grade NAT
    "srt://224.0.0.1:9000",  # multicast
    "http://240.0.0.1/x",  # reserved
    "http://[::1]:8080/x",
    "http://[::]/x",
    "http://[::ffff:127.0.0.1]/x",  # IPv4-mapped
    "http://[::ffff:7f00:1]/x",
    "http://[::ffff:a9fe:a9fe]/x",  # mapped 169.254.169.254
    "http://[2002:7f00:1::]/x",  # 6to4 around loopback
    "http://[64:ff9b::7f00:1]/x",  # NAT64 around loopback
    "http://[fe80::1]/x",
    "http://[fc00::1]/x",
    "http://[ff02::1]/x",
]
NOT_STREAMS = [
    "file:///etc/passwd",
    "file:/etc/passwd",
    "concat:/etc/passwd|/etc/hosts",
    "data:text/plain,hi",
    "subfile,,start,0,end,100,,:/etc/passwd",
    "gopher://example.org/",
    "ftp://example.org/a.ts",
    "/etc/passwd",
]


def public(host: str, port: int) -> list[str]:
    return ["203.0.114.10"] if host != "inside.example" else ["10.0.0.5"]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(Refused) as refused:
        check_url(url, field="provider_settings.pull_url", resolve=public)
    assert refused.value.field == "provider_settings.pull_url"
    assert refused.value.status_code == 400


@pytest.mark.parametrize("url", NOT_STREAMS)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(Refused, match="must start with"):
        check_url(url, resolve=public)


def test_a_name_resolving_inside_is_refused_and_one_resolving_outside_passes() -> None:
    with pytest.raises(Refused, match=r"inside\.example \(10\.0\.0\.5\)"):
        check_url("http://inside.example/a.m3u8", resolve=public)
    assert check_url("https://cdn.example/a.m3u8", resolve=public) == ["203.0.114.10"]
    assert check_url("rtmp://8.8.8.8/live/a") == ["8.8.8.8"]

    def mixed(host: str, port: int) -> list[str]:
        return ["203.0.114.10", "::1"]  # one bad address is enough to refuse

    with pytest.raises(Refused):
        check_url("http://cdn.example/a.m3u8", resolve=mixed)


def test_unresolved_names_wait_only_when_asked() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such name")

    assert check_url("http://later.example/a.m3u8", unresolved_ok=True, resolve=nothing) == []
    with pytest.raises(Refused, match="does not resolve"):
        check_url("http://later.example/a.m3u8", resolve=nothing)


def test_credentials_in_the_address_are_refused() -> None:
    with pytest.raises(Refused, match="user name"):
        check_url("http://user:pw@8.8.8.8/a.m3u8")


def test_the_allow_list_opens_named_hosts_and_networks() -> None:
    allow = Allow.parse("cam.school.lan, 10.8.0.0/16 [fd00::]/8")
    assert check_url("http://cam.school.lan/a.m3u8", allow=allow, resolve=public) == []
    assert check_url("rtmp://10.8.3.4/live/a", allow=allow) == ["10.8.3.4"]
    assert check_url("http://[fd00::5]/x", allow=allow) == ["fd00::5"]
    with pytest.raises(Refused):
        check_url("rtmp://10.9.3.4/live/a", allow=allow)
    assert check_url("http://127.0.0.1:9/x", allow="127.0.0.0/8") == ["127.0.0.1"]


def loopback_name() -> str:
    """A host name this machine's resolver maps to loopback (from /etc/hosts)."""
    for name in ("localhost.localdomain", "vm", "runsc", "ip6-localhost", socket.gethostname()):
        try:
            found = outbound.system_resolver(name, 80)
        except OSError:
            continue
        if found and all(outbound.internal(ipaddress.ip_address(a)) for a in found):
            return name
    pytest.skip("no host name here resolves to loopback")


def test_a_real_name_resolving_to_loopback_is_refused() -> None:
    name = loopback_name()
    with pytest.raises(Refused, match="not a public address"):
        check_url(f"http://{name}:8080/live.flv")


# -- at save time, through the API ----------------------------------------------------------
def link_session(world: World, settings: dict[str, str]) -> dict[str, object]:
    starts = datetime.now(UTC) + timedelta(days=1)
    return {
        "course_id": world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "provider": "external_link",
        "provider_settings": settings,
    }


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/live.flv",
        "http://[::1]/live.flv",
        "http://[::ffff:127.0.0.1]/x",
        "http://169.254.169.254/latest/meta-data/",
        "rtmp://192.168.1.20/live/a",
        "file:///etc/passwd",
        "concat:/etc/passwd|/etc/hosts",
        "http://localhost:1935/live",
    ],
)
async def test_saving_an_internal_pull_url_is_a_400_naming_it(world: World, url: str) -> None:
    body = link_session(world, {"meeting_url": "https://meet.example/j/1", "pull_url": url})
    r = await world.post("/api/v1/sessions", body, "teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "provider_settings.pull_url", r.text


async def test_saving_an_internal_playback_url_is_a_400_naming_it(world: World) -> None:
    body = link_session(world, {"playback_url": "http://10.0.0.8/live/a.m3u8"})
    r = await world.post("/api/v1/sessions", body, "teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "provider_settings.playback_url"


async def test_saving_a_name_resolving_to_loopback_is_refused(world: World) -> None:
    name = loopback_name()
    body = link_session(world, {"playback_url": f"http://{name}:8080/live/a.m3u8"})
    r = await world.post("/api/v1/sessions", body, "teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "provider_settings.playback_url"


async def test_a_public_or_not_yet_resolving_address_may_be_saved(world: World) -> None:
    body = link_session(
        world,
        {"playback_url": "https://8.8.8.8/live/a.m3u8", "pull_url": "srt://later.invalid:9000"},
    )
    r = await world.post("/api/v1/sessions", body, "teacher")
    assert r.status_code == 201, r.text


# -- at record time --------------------------------------------------------------------------
def test_the_external_link_source_is_checked_again_when_recording() -> None:
    from plugins.external_link import ExternalLink, ExternalOptions

    options = ExternalOptions(pull_url="http://later.invalid/a.m3u8", meeting_url="https://m.x/a")
    provider = ExternalLink()
    # saved while the name did not resolve; it is marked for the recorder to check again
    provider.check_session(options, Settings(), "provider_settings")

    class Ctx:
        session_options = options

    source = provider.recording_source(Ctx())  # type: ignore[arg-type]
    assert source == RecordingSource("http://later.invalid/a.m3u8", probe=True, public_only=True)


async def test_record_time_check_refuses_a_name_that_now_points_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from media import handlers

    class Job:
        id = 7

    class Ctx:
        settings = Settings()
        job = Job()

    source = RecordingSource("http://later.example/a.m3u8", public_only=True)
    monkeypatch.setattr(outbound, "system_resolver", lambda h, p: [])
    assert await handlers._guarded(Ctx(), source) is False  # type: ignore[arg-type]
    monkeypatch.setattr(outbound, "system_resolver", lambda h, p: ["127.0.0.1"])
    with pytest.raises(handlers.PermanentError, match="not a public address"):
        await handlers._guarded(Ctx(), source)  # type: ignore[arg-type]
    trusted = RecordingSource("rtmp://127.0.0.1/live/sh1")  # the provider's own address
    assert await handlers._guarded(Ctx(), trusted) is True  # type: ignore[arg-type]


class _Origin(BaseHTTPRequestHandler):
    hits: list[str] = []
    target = ""

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", type(self).target)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/x-flv")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    _Origin.hits = []
    _Origin.target = f"http://127.0.0.1:{server.server_address[1]}/secret.flv"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_ffmpeg_follows_no_redirect(origin: str, tmp_path: Path) -> None:
    """An allowed origin that redirects (here to the hub's own loopback) is not followed."""
    command = record_hls_cmd(f"{origin}/redirect.flv", tmp_path, rw_timeout=5)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert _Origin.hits == ["/redirect.flv"], (_Origin.hits, err.decode()[-500:])


async def test_ffmpeg_refuses_other_protocols_from_a_source(tmp_path: Path) -> None:
    """A playlist fetched over HTTP may not make ffmpeg open a local file."""
    secret = tmp_path / "secret.ts"
    secret.write_bytes(b"\x47" * 188 * 10)
    playlist = tmp_path / "p.m3u8"
    playlist.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    )

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = playlist.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "out"
        out.mkdir()
        url = f"http://127.0.0.1:{server.server_address[1]}/p.m3u8"
        process = await asyncio.create_subprocess_exec(
            *record_hls_cmd(url, out, rw_timeout=5),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        server.shutdown()
    assert not list(out.glob("seg_*.ts")), err.decode()[-800:]
