// The watch page as a state machine: waiting room (countdown) -> live -> ended (the replay is
// being made) -> replay, driven by polling GET /api/v1/sessions/{id}/state every 3 s, with no
// reload. hls.js (or Safari's own HLS) plays; a missing playlist or a network error is retried
// with back-off, never left as a dead player. Playback starts muted when the browser blocks
// sound; a large button turns the sound on and the choice is kept on this device. Audio-only
// shows its own player (play, pause, position, volume). View beacons: seconds watched, sent
// every 15 s, a few seconds after playback starts, and when the page is left.
(function () {
  "use strict";
  var box = document.getElementById("player");
  if (!box) return;
  var $ = function (id) { return document.getElementById(id); };
  var video = $("video"), quality = $("quality"), stateText = $("player-state");
  var errorBox = $("player-error"), waitingRoom = $("waiting-room"), endedRoom = $("ended-room");
  var videoBox = $("video-box"), countdown = $("countdown"), unmute = $("unmute");
  var audioBox = $("audio-controls"), audioPlay = $("audio-play"), audioSeek = $("audio-seek");
  var audioTime = $("audio-time"), audioMute = $("audio-mute"), audioVolume = $("audio-volume");
  var badge = $("status-badge"), textEl = $("watch-text"), text = textEl.dataset;
  var sessionId = box.getAttribute("data-session");
  var stateUrl = "/api/v1/sessions/" + sessionId + "/state";
  var kind = box.getAttribute("data-kind") || "live";
  var sources = {};
  try { sources = JSON.parse(box.getAttribute("data-sources") || "{}"); } catch (e) {}
  var startsAt = Date.parse(box.getAttribute("data-starts"));
  var skew = Date.parse(box.getAttribute("data-now")) - Date.now() || 0;
  var mode = null;        // waiting | live | ended | replay | cancelled
  var seen = [];          // the states this page went through (tests read it)
  var hls = null, current = null, retryTimer = null, retryDelay = 1000;
  var userPaused = false;  // paused with the audio player's button: a reload does not resume
  var SOUND_KEY = "sharehub_sound";

  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) {} }
  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  // --- sound: start unmuted when this device said so before (the browser may still refuse)
  var programmatic = 0;
  function setMuted(on) { if (video.muted !== on) { programmatic++; video.muted = on; } }
  function updateSound() {
    var silent = video.muted || video.volume === 0;
    unmute.hidden = !silent || videoBox.hidden;
    audioMute.textContent = silent ? text.unmute : text.mute;
    audioMute.setAttribute("aria-pressed", silent ? "true" : "false");
    audioVolume.value = String(video.muted ? 0 : video.volume);
  }
  function play() {
    setMuted(stored(SOUND_KEY) !== "on");
    var p = video.play();
    if (p && p.catch) {
      p.catch(function () {
        if (!video.muted) {  // sound refused without a gesture: play muted, show the button
          setMuted(true);
          var q = video.play(); if (q && q.catch) q.catch(function () {});
        }
        updateSound();
      });
    }
    updateSound();
  }
  function soundOn() {
    setMuted(false);
    if (video.volume === 0) video.volume = 1;
    store(SOUND_KEY, "on");
    var p = video.play(); if (p && p.catch) p.catch(function () {});
    updateSound();
  }
  unmute.addEventListener("click", soundOn);
  video.addEventListener("volumechange", function () {
    if (programmatic > 0) { programmatic--; } else { store(SOUND_KEY, video.muted || video.volume === 0 ? "off" : "on"); }
    updateSound();
  });

  // --- the player: (re)load a playlist, retry with back-off on 404 and network errors
  function destroy() {
    clearTimeout(retryTimer); retryTimer = null;
    if (hls) { hls.destroy(); hls = null; }
  }
  function retryLater() {
    destroy();
    stateText.textContent = text.connecting;
    retryTimer = setTimeout(function () { if (current) load(current, 0); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  }
  function load(url, at) {
    destroy();
    current = url;
    errorBox.hidden = true;
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        lowLatencyMode: false,
        liveSyncDuration: 3,             // play 3 s behind the live edge (1.5 segments of 2 s)
        liveMaxLatencyDuration: 10,      // fall further behind: jump forward
        maxLiveSyncPlaybackRate: 1.1,
        manifestLoadingMaxRetry: 1,
        levelLoadingMaxRetry: 4,
        fragLoadingMaxRetry: 6,
        startLevel: quality.value === "low" ? 0 : -1
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        retryDelay = 1000;
        pickLevel(quality.value);
        if (at > 0) video.currentTime = at;
        if (!userPaused) play();
      });
      hls.on(window.Hls.Events.ERROR, function (_, data) {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        retryLater();  // 404 before the first segment, a dropped connection: ask again
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.onerror = retryLater;
      video.src = url;
      play();
    } else {
      errorBox.hidden = false;
    }
  }
  function sourceFor(q) {
    if (q === "auto" || q === "high") return sources.high;
    return sources[q] || sources.high;
  }
  function pickLevel(q) {
    if (!hls || !hls.levels || !hls.levels.length) return;
    var levels = hls.levels.map(function (l, i) { return { i: i, bw: l.bitrate || 0, h: l.height || 0, codecs: l.videoCodec || "" }; });
    levels.sort(function (a, b) { return a.bw - b.bw; });
    if (q === "auto" || (q === "audio" && sources.audio)) { hls.autoLevelCapping = -1; hls.currentLevel = -1; return; }
    if (q === "high") { hls.autoLevelCapping = -1; hls.currentLevel = levels[levels.length - 1].i; return; }
    var audioOnly = levels.filter(function (l) { return !l.h && !l.codecs; });
    var pick = q === "audio" && audioOnly.length ? audioOnly[0] : levels[0];
    hls.autoLevelCapping = pick.i;
    hls.currentLevel = pick.i;
  }
  function audioMode() { return quality.value === "audio"; }
  function showAudio() {
    var on = audioMode() && !videoBox.hidden;
    videoBox.classList.toggle("audio-only", audioMode());
    audioBox.hidden = !on;
    updateAudio();
  }
  quality.addEventListener("change", function () {
    showAudio();
    var url = sourceFor(quality.value);
    if (url && url !== current && (mode === "live" || mode === "replay")) {
      load(url, kind === "replay" ? video.currentTime || 0 : 0);
    } else {
      pickLevel(quality.value);
    }
  });

  // --- the audio-only player's own controls
  function clock(s) {
    s = Math.max(0, Math.floor(s || 0));
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function seekRange() {
    var r = video.seekable;
    if (r && r.length) return { from: r.start(0), to: r.end(r.length - 1) };
    return { from: 0, to: isFinite(video.duration) ? video.duration : 0 };
  }
  function updateAudio() {
    audioPlay.textContent = video.paused ? text.play : text.pause;
    audioPlay.setAttribute("aria-pressed", video.paused ? "false" : "true");
    var range = seekRange();
    audioSeek.min = String(Math.floor(range.from));
    audioSeek.max = String(Math.ceil(range.to));
    if (document.activeElement !== audioSeek) audioSeek.value = String(Math.floor(video.currentTime || 0));
    audioTime.textContent = clock(video.currentTime) + (kind === "replay" ? " / " + clock(range.to) : "");
  }
  audioPlay.addEventListener("click", function () {
    if (video.paused) {
      userPaused = false;
      var p = video.play(); if (p && p.catch) p.catch(function () {});
    } else {
      userPaused = true;
      video.pause();
    }
  });
  audioSeek.addEventListener("change", function () { video.currentTime = Number(audioSeek.value); });
  audioMute.addEventListener("click", function () {
    if (video.muted || video.volume === 0) { soundOn(); } else { video.muted = true; }
  });
  audioVolume.addEventListener("input", function () {
    var v = Number(audioVolume.value);
    video.volume = v;
    if (v > 0 && video.muted) video.muted = false;
  });
  ["play", "pause", "timeupdate", "durationchange", "loadedmetadata"].forEach(function (e) {
    video.addEventListener(e, updateAudio);
  });

  // --- states
  function setBadge(state) {
    var label = textEl.getAttribute("data-badge-" + state);
    if (!label || !badge) return;
    var cls = { waiting: "scheduled", live: "live", ended: "ended", replay_ready: "archived", cancelled: "cancelled" }[state];
    badge.innerHTML = "";
    var span = document.createElement("span");
    span.className = "status status-" + cls;
    span.textContent = label;
    badge.appendChild(span);
  }
  function show(which) {
    if (which !== "video") stateText.textContent = "";
    waitingRoom.hidden = which !== "waiting";
    endedRoom.hidden = which !== "ended";
    videoBox.hidden = which !== "video";
    showAudio();
    updateSound();
  }
  function enterWaiting() {
    if (mode === "waiting") return;
    mode = "waiting"; seen.push(mode);
    destroy(); current = null;
    show("waiting");
    tickCountdown();
  }
  function enterLive(url) {
    if (mode === "live" && sources.high === url) return;
    flush();
    mode = "live"; kind = "live"; resetViews(); seen.push(mode);
    sources = { high: url };
    show("video");
    load(url, 0);
  }
  function enterEnded() {
    if (mode === "ended") return;
    flush();
    mode = "ended"; seen.push(mode);
    destroy(); current = null;
    video.removeAttribute("src");
    show("ended");
  }
  function enterReplay(replay) {
    if (mode === "replay") return;
    flush();
    mode = "replay"; kind = "replay"; resetViews(); seen.push(mode);
    sources = replay;
    show("video");
    load(sourceFor(quality.value), 0);
  }
  function apply(st) {
    if (!st) return;
    if (st.now) skew = Date.parse(st.now) - Date.now();
    if (st.starts_at) startsAt = Date.parse(st.starts_at);
    setBadge(st.state);
    // once playing live, a poll that cannot see the playlist (storage slow) changes nothing
    if (st.state === "live" && st.live_source && (st.playlist_ready || mode === "live")) enterLive(st.live_source);
    else if (st.state === "live" || st.state === "waiting") enterWaiting();
    else if (st.state === "ended") enterEnded();
    else if (st.state === "replay_ready") enterReplay(st.replay);
    else if (st.state === "cancelled") { mode = "cancelled"; destroy(); show("none"); }
  }
  function tickCountdown() {
    if (mode !== "waiting") return;
    var left = Math.round((startsAt - (Date.now() + skew)) / 1000);
    if (left <= 0) { countdown.textContent = text.starting; return; }
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600);
    var m = Math.floor(left % 3600 / 60), s = left % 60;
    var t = (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
    if (d > 0) t = text.days.replace("{n}", d) + " " + t;
    countdown.textContent = text.countdown.replace("{t}", t);
  }
  setInterval(tickCountdown, 1000);
  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    fetch(stateUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () {})
      .then(function () { polling = false; });
  }
  setInterval(poll, 3000);

  // --- view beacons: seconds actually watched
  function randomId() {
    var a = new Uint8Array(16); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var viewer = stored("sharehub_viewer");
  if (!viewer) { viewer = randomId(); store("sharehub_viewer", viewer); }
  var watched = 0, lastTick = null, firstSent = false;
  function resetViews() { watched = 0; lastTick = null; firstSent = false; }
  function tick() {
    var now = Date.now();
    if (lastTick !== null && !video.paused && !video.ended && video.readyState > 2) {
      watched += Math.min((now - lastTick) / 1000, 5);
    }
    lastTick = now;
    if (!video.paused && !videoBox.hidden) stateText.textContent = clock(video.currentTime);
  }
  setInterval(tick, 1000);
  function send(beacon, tries) {
    fetch("/api/v1/sessions/" + sessionId + "/beacons", {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(beacon)
    }).then(function (r) {
      if (r.status >= 500 && tries > 0) setTimeout(function () { send(beacon, tries - 1); }, 5000);
    }).catch(function () {
      if (tries > 0) setTimeout(function () { send(beacon, tries - 1); }, 5000);
    });
  }
  function flush() {
    tick();
    if (watched < 0.5) return;
    var seconds = Math.round(watched * 1000) / 1000;
    watched = 0;
    send({ beacon_id: randomId(), viewer_id: viewer, kind: kind, seconds: seconds,
           at: new Date().toISOString(), position: Math.max(0, video.currentTime || 0) }, 2);
  }
  video.addEventListener("playing", function () {
    stateText.textContent = "";
    if (!firstSent) { firstSent = true; setTimeout(flush, 5000); }  // a view counts early
  });
  setInterval(flush, 15000);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") flush(); });
  window.sharehubPlayer = {
    flush: flush, video: video, hls: function () { return hls; },
    source: function () { return current; }, mode: function () { return mode; },
    seen: function () { return seen.slice(); }
  };

  // --- first state: what the page was rendered with, then ask
  var first = box.getAttribute("data-state");
  var src = box.getAttribute("data-src");
  if (first === "replay_ready" && src) enterReplay(sources);
  else if (first === "live" && src) enterLive(src);
  else if (first === "ended") enterEnded();
  else enterWaiting();
  poll();
})();
