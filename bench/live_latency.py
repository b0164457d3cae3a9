"""Glass-to-glass latency of a live class: from a frame leaving the teacher's camera to the
same frame on a viewer's screen, through the hub's own path (SRT push -> recorder -> HLS
segments in storage -> the hub's live playlist -> hls.js in Chromium on the watch page).

The "camera" is ffmpeg (``-re``, real time) drawing a 16-bit frame counter as black and white
blocks into the top of each frame, x264 veryfast with a keyframe every 2 s, pushed over SRT.
Frame N leaves the camera at T0 + N/25 (T0: when the encoder started; it starts a little
after, so the figures err a little high). Chromium plays the watch page; for each painted
frame (``requestVideoFrameCallback``) the page reads the counter from the pixels and
records ``now - (T0 + N/25)``. About 2 minutes of samples; p50 and p95 reported. Baseline:
the segment duration (``SHAREHUB_SEGMENT_SECONDS`` = 2 here), the floor a segment-based
live stream cannot go below. ``value`` = p50 seconds, ``ratio`` = p50 / baseline.

Run: python bench/live_latency.py (SQLite, local storage, the embedded worker; needs
Chromium at /usr/bin/chromium and Playwright).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from support import ROOT, bench_env, free_port, serve, stop

SEGMENT_SECONDS = 2
FPS = 25
SAMPLE_SECONDS = float(os.environ.get("LIVE_LATENCY_SECONDS", "120"))
CHROMIUM = os.environ.get("SHAREHUB_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-pass-1"
BITS = 16
BLOCK = 20  # pixels per bit: 16 x 20 = 320 wide

# the counter: the top 40 rows hold frame number N in binary (bit i in columns 20i..20i+19)
COUNTER = (
    f"geq=lum='if(lt(Y,40),255*mod(floor(N/pow(2,floor(X/{BLOCK}))),2),"
    "if(lt(Y,44),0,96+64*sin(X/9+N/5)))':cb=128:cr=128"
)

READER = """
() => {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  canvas.width = %(w)d; canvas.height = 40;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  window.__latency = [];
  window.__t0 = %(t0)f;
  function frame(now, meta) {
    if (meta.width >= %(w)d) {
      ctx.drawImage(video, 0, 0, %(w)d, 40, 0, 0, %(w)d, 40);
      const row = ctx.getImageData(0, 20, %(w)d, 1).data;
      let n = 0;
      for (let i = 0; i < %(bits)d; i++) {
        const x = i * %(block)d + %(half)d;
        if (row[x * 4] > 128) n += Math.pow(2, i);
      }
      window.__latency.push(Date.now() / 1000 - (window.__t0 + n / %(fps)d));
    }
    video.requestVideoFrameCallback(frame);
  }
  video.requestVideoFrameCallback(frame);
}
"""


async def seed(env: dict[str, str]) -> int:
    """A teacher, a public course and a self-hosted (SRT) class starting in a minute."""
    from hub import accounts, db
    from hub.settings import load_settings
    from hub.tables import Course, LiveSession, Role, Teacher

    settings = load_settings(env)
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    await db.migrate()
    user = await accounts.create_user("teacher", PASSWORD, Role.teacher, "王老师")
    teacher = (await Teacher.insert(Teacher(name="王老师", user=user)).run())[0]["id"]
    course = (await Course.insert(Course(title="延迟测试", subject="数学", teacher=teacher)).run())[
        0
    ]["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    session = (
        await LiveSession.insert(
            LiveSession(
                course=course,
                teacher=teacher,
                starts_at=now + timedelta(minutes=1),
                ends_at=now + timedelta(minutes=30),
                provider="self_hosted",
            )
        ).run()
    )[0]["id"]
    await db.close_engine(engine)
    return int(session)


def camera(url: str, seconds: float) -> list[str]:
    from media.ffmpeg_bin import find_ffmpeg

    return [
        find_ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"color=c=gray:size=320x180:rate={FPS},format=yuv420p,{COUNTER}",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        f"{seconds:g}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(2 * FPS),
        "-keyint_min",
        str(2 * FPS),
        "-sc_threshold",
        "0",
        "-b:v",
        "400k",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "mpegts",
        url,
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="sharehub-latency-"))
    port = free_port()
    srt_low = 21000 + (os.getpid() % 100) * 20
    env = bench_env(
        data,
        SHAREHUB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SHAREHUB_SEGMENT_SECONDS=str(SEGMENT_SECONDS),
        SHAREHUB_EMBEDDED_WORKER="on",
        SHAREHUB_PLUGIN__SELF_HOSTED__SRT_LISTEN_HOST="127.0.0.1",
        SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MIN=str(srt_low),
        SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MAX=str(srt_low + 19),
        PYTHONPATH=str(ROOT),
    )
    session_id = asyncio.run(seed(env))
    server = serve(env, port, data / "serve.log")
    encoder: subprocess.Popen[bytes] | None = None
    samples: list[float] = []
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as web:
            r = web.post("/api/v1/auth/login", json={"username": "teacher", "password": PASSWORD})
            r.raise_for_status()
            ingest = web.get(f"/api/v1/sessions/{session_id}/ingest").json()
            url = next(e["url"] for e in ingest["endpoints"] if e["protocol"] == "srt")
            push_seconds = SAMPLE_SECONDS + 90
            t0 = 0.0
            deadline = time.monotonic() + 120
            while True:  # until the recorder's listener takes the push and a segment is out
                state = web.get(f"/api/v1/sessions/{session_id}/state").json()
                if state["state"] == "live" and state["playlist_ready"]:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no live segment: {state}")
                if encoder is None or encoder.poll() is not None:
                    encoder = subprocess.Popen(
                        camera(url, push_seconds),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    t0 = time.time()
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--mute-audio",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.goto(f"{base}/watch/{session_id}")
            page.wait_for_function(
                "() => document.getElementById('video').currentTime > 0.5", timeout=90_000
            )
            page.evaluate(
                READER
                % {
                    "w": BITS * BLOCK,
                    "t0": t0,
                    "bits": BITS,
                    "block": BLOCK,
                    "half": BLOCK // 2,
                    "fps": FPS,
                }
            )
            end = time.monotonic() + SAMPLE_SECONDS
            while time.monotonic() < end:
                page.wait_for_timeout(5000)
            samples = [float(x) for x in page.evaluate("window.__latency")]
            browser.close()
    finally:
        if encoder is not None and encoder.poll() is None:
            encoder.terminate()
            encoder.wait(timeout=20)
        stop(server)
        shutil.rmtree(data, ignore_errors=True)
    # a frame read wrong (a block blurred by the encoder) gives a wild value: keep the sane
    sane = [s for s in samples if -1.0 < s < 120.0]
    if len(sane) < 100:
        print(f"too few readable frames: {len(sane)} of {len(samples)}", file=sys.stderr)
        sys.exit(1)
    p50 = statistics.median(sane)
    p95 = percentile(sane, 0.95)
    print(
        json.dumps(
            {
                "frames": len(samples),
                "readable": len(sane),
                "p50": round(p50, 2),
                "p95": round(p95, 2),
                "min": round(min(sane), 2),
                "max": round(max(sane), 2),
                "keyframe_seconds": 2,
                "segment_seconds": SEGMENT_SECONDS,
                "sample_seconds": SAMPLE_SECONDS,
            },
        ),
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "live_latency",
                "value": round(p50, 2),
                "unit": "s",
                "baseline": float(SEGMENT_SECONDS),
                "ratio": round(p50 / SEGMENT_SECONDS, 2),
                "p95": round(p95, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
