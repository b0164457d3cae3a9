"""The hub's settings: one dataclass, filled from ``SHAREHUB_*`` environment variables."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "SHAREHUB_"
PLUGIN_PREFIX = PREFIX + "PLUGIN__"
SECRET_FIELDS = frozenset(
    {
        "secret_key",
        "s3_access_key",
        "s3_secret_key",
        "database_url",
        "ingest_secret",
        "metrics_token",
    }
)
SECRET_WORDS = ("key", "secret", "passphrase", "password", "pwd", "token", "sign", "auth")


class SettingsError(ValueError):
    """A setting has a value the hub cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Effective configuration. Every field maps to ``SHAREHUB_<FIELD>`` in upper case."""

    data_dir: Path = field(default_factory=lambda: Path("sharehub-data").resolve())
    database_url: str = ""
    secret_key: str = ""
    timezone: str = "Asia/Shanghai"
    public_url: str = "http://127.0.0.1:8000"
    help_contact: str = ""
    """Who a share-center calls when a class does not work (name and phone), on ``/help``."""
    s3_endpoint_url: str = ""
    s3_bucket: str = "sharehub"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    s3_addressing_style: str = "path"
    session_max_age: int = 14 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    """The largest request body accepted (413 above it)."""
    login_free_failures: int = 5
    """Failed sign-ins for one username before each further try must wait (1, 2, 4 ... s)."""
    login_address_free_failures: int = 30
    """The same for one client address (any usernames)."""
    login_lockout_seconds: int = 900
    """The longest wait between sign-in attempts; failures are forgotten this long after."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For
    is believed; empty: the peer address is the client's (forwarded headers are ignored)."""
    pg_pool: int = 10
    """PostgreSQL connections per process (serve or worker)."""
    default_provider: str = ""
    """The streaming provider a new class uses when none is named; empty: the one its plugin
    marks as the default choice (the self-hosted one), else the first registered."""
    public_cache_seconds: int = 2
    """How long a process reuses a shared answer (schedule, watch page, playback); 0 = never."""
    figures_cache_seconds: float = 60.0
    """How long a process shares the impact figures of one period with anonymous callers of
    ``/api/v1/impact`` (after a write it handled: worked out again); 0 = for every caller,
    though callers at the same moment still share one computation."""
    credential_cache_seconds: float = 2.0
    """How long a process remembers who a token or sign-in cookie is; a sign-out, revoked token
    or deactivated user reaches the other processes within this bound; 0 = ask every time."""
    view_threshold_seconds: int = 10
    """A viewer's watching counts as a view from this many seconds in one window."""
    view_window_hours: int = 6
    """A viewer counts once per session per window of this many hours (from local midnight in
    the hub's time zone; a window never crosses midnight)."""
    view_flush_seconds: int = 2
    """How often a process writes its in-memory beacon tally to the database."""
    view_concurrency_seconds: int = 30
    """Concurrent viewers: those seen within this many seconds."""
    view_beacon_max_seconds: int = 60
    """The most seconds one beacon may report (players send one every 10-30 s)."""
    view_rate_viewer: int = 30
    """Beacons per minute per viewer id (per process; 0 = no limit)."""
    view_rate_address: int = 1200
    """Beacons per minute per client address (per process; 0 = no limit)."""
    view_new_viewers_per_minute: int = 600
    """New viewer ids per minute per client address (per process; 0 = no limit): generous for
    a school behind one NAT, a wall against made-up viewers."""
    programme_name: str = "Sharehub"
    """The programme's name in impact reports."""
    ingest_secret: str = ""
    """Shared secret of the RTMP server's publish callbacks (empty: derived from secret_key)."""
    embedded_worker: str = "auto"
    """Run the media worker inside ``sharehub serve``: auto (on SQLite), on, off."""
    work_dir: str = ""
    """The worker's scratch folder for recordings in progress (default ``<data>/work``)."""
    worker_slots: int = 16
    """Jobs one worker runs at once (recordings are light: stream copy)."""
    worker_cpu_slots: int = 1
    """Of those, transcode, export and report jobs at once (CPU-bound: about one per 2 cores)."""
    worker_tick_seconds: int = 5
    """How often a worker looks for sessions to record and overdue live sessions."""
    worker_lease_seconds: int = 30
    """A job whose worker stops renewing its lease this long is taken back."""
    record_lead_seconds: int = 900
    """An SRT listener is opened this long before the class starts."""
    record_relisten_seconds: int = 1800
    """After a pushed stream ends, the listener waits this long for it to restart."""
    segment_seconds: int = 2
    """Length of recorded HLS segments (cut at keyframes: encoders should send one every 2 s)."""
    live_early_seconds: int = 300
    """A push this long before the start turns the class live; earlier it is a rehearsal."""
    media_url_seconds: int = 7200
    """Lifetime of presigned storage URLs handed to players."""
    material_max_mb: int = 50
    """Largest course material file (PDF, image, PPTX/DOCX, audio) a teacher may attach."""
    course_materials_max_mb: int = 500
    """All the materials of one course together may take at most this much."""
    material_upload_seconds: int = 900
    """Lifetime of a material's upload address (the presigned POST on S3)."""
    pack_build_weekday: int = 5
    """Offline lesson packs of next week are built on this day (1 = Monday ... 7; 0 = only
    on request), in each center's time zone, for centers with a booking that week."""
    pack_monthly_cap_mb: int = 20480
    """A center may download at most this much of lesson packs per calendar month (0 = no cap)."""
    spool_max_mb: int = 2048
    """Disk a recorder may fill with segments while the store is unreachable."""
    log_format: str = "text"
    """Log lines of ``sharehub serve`` and ``sharehub worker``: text or json."""
    metrics_token: str = ""
    """Bearer token that may read ``/metrics`` from any address (admins and loopback may)."""
    worker_metrics_port: int = 0
    """``sharehub worker`` serves its own metrics on 127.0.0.1:<port> (0 = off)."""
    pull_allow: str = ""
    """Hosts and networks (comma or space separated, e.g. ``cam.school.lan,10.8.0.0/16``)
    a teacher's stream address may name although they are not public (``hub.outbound``)."""
    volunteer_grace_minutes: int = 10
    """A class's volunteer hours run from going live to its end, counted from at most this
    many minutes before the scheduled start to this many after the scheduled end."""
    volunteer_second_approval: bool = False
    """Volunteer entries an administrator adds count only once another administrator approves."""
    volunteer_issuer: str = ""
    """The organisation that issues volunteer certificates (empty: the programme's name)."""
    volunteer_issuer_contact: str = ""
    """Its contact (address, telephone, e-mail) printed on certificates."""
    classroom_photo_max_bytes: int = 8 * 1024 * 1024
    """The largest photo a share-center may send to the teacher (413 above it)."""
    classroom_photo_max_side: int = 1600
    """Photos are re-encoded (JPEG, no EXIF or GPS) to at most this many pixels a side."""
    classroom_retention_days: int = 365
    """Classroom messages and photos are deleted this many days after their class (0 = kept)."""
    remind_minutes: int = 30
    """Booked centers and the teacher are reminded this many minutes before a class."""
    notify_no_stream_minutes: int = 5
    """A class with nothing pushed this many minutes after its start: the teacher, the booked
    centers and the administrators are told."""
    notify_rate_per_hour: int = 30
    """At most this many messages per recipient per hour on each outside channel (0 = no
    limit); more wait. The inbox is not limited."""
    plugin_options: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per plugin, its settings: ``SHAREHUB_PLUGIN__<NAME>__<KEY>=value``."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def worker_dir(self) -> Path:
        return Path(self.work_dir) if self.work_dir else self.data_dir / "work"

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_endpoint_url)

    def masked(self) -> dict[str, str]:
        """Settings as strings, secrets masked, for ``sharehub config``."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "plugin_options":
                continue
            value = str(getattr(self, f.name))
            if f.name in SECRET_FIELDS and value:
                value = mask(value)
            out[PREFIX + f.name.upper()] = value
        for plugin, options in sorted(self.plugin_options.items()):
            for key, value in sorted(options.items()):
                secret = _secretish(key)
                out[f"{PLUGIN_PREFIX}{plugin.upper()}__{key.upper()}"] = (
                    mask(value) if secret and value else value
                )
        return out


def mask(value: str) -> str:
    """Hide a secret but keep enough to tell two apart. In a URL: the password, and the value
    of every parameter named like a secret in its query or fragment (``?password=``,
    ``sslpassword=``, ``token=``, ``X-Amz-Signature=``, and Tencent's SRT stream id
    ``#!::r=...,txSecret=...``)."""
    if "://" not in value:
        return value[:2] + "***" if len(value) > 8 else "***"
    scheme, rest = value.split("://", 1)
    split = min((rest.find(c) for c in "?#" if c in rest), default=len(rest))
    before, params = rest[:split], rest[split:]
    at = before.rfind("@")
    if at >= 0 and ":" in before[:at]:  # user:password@host; a password may hold "/" or "@"
        before = f"{before[:at].split(':', 1)[0]}:***{before[at:]}"
    params = URL_PARAM.sub(lambda m: f"{m[1]}=***" if _secretish(m[1]) else m[0], params)
    return f"{scheme}://{before}{params}"


URL_PARAM = re.compile(r"([^&,;#?:=/]+)=([^&,;#]*)")


def _secretish(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def _coerce(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}{name.upper()} must be an integer, got {raw!r}") from exc
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}{name.upper()} must be a number, got {raw!r}") from exc
    if isinstance(default, Path):
        return Path(raw).expanduser().resolve()
    return raw


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the environment, fill defaults that depend on the data folder, validate."""
    env = dict(os.environ if env is None else env)
    defaults = Settings()
    values: dict[str, object] = {}
    for f in fields(Settings):
        key = PREFIX + f.name.upper()
        if f.name != "plugin_options" and key in env and env[key] != "":
            values[f.name] = _coerce(f.name, env[key], getattr(defaults, f.name))
    values["plugin_options"] = plugin_options(env)
    settings = Settings(**values)  # type: ignore[arg-type]
    data_dir = settings.data_dir
    if not settings.database_url:
        settings = _replace(settings, database_url=f"sqlite:///{data_dir / 'sharehub.sqlite'}")
    if not settings.secret_key:
        settings = _replace(settings, secret_key=_stored_secret(data_dir))
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{PREFIX}TIMEZONE: unknown time zone {settings.timezone!r}") from exc
    if not settings.database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise SettingsError(
            f"{PREFIX}DATABASE_URL must start with sqlite:/// or postgresql://, "
            f"got {mask(settings.database_url)!r}"
        )
    if settings.s3_addressing_style not in {"path", "virtual", "auto"}:
        raise SettingsError(f"{PREFIX}S3_ADDRESSING_STYLE must be path, virtual or auto")
    if settings.log_format not in {"text", "json"}:
        raise SettingsError(f"{PREFIX}LOG_FORMAT must be text or json")
    if not 0 <= settings.pack_build_weekday <= 7:
        raise SettingsError(f"{PREFIX}PACK_BUILD_WEEKDAY must be 0 (off) or 1 (Monday) to 7")
    if settings.embedded_worker not in {"auto", "on", "off"}:
        raise SettingsError(f"{PREFIX}EMBEDDED_WORKER must be auto, on or off")
    return settings


NOT_SETTINGS = frozenset(
    {
        "SHAREHUB_FFMPEG",  # the ffmpeg binary (media.ffmpeg_bin)
        "SHAREHUB_TEST_PG_URL",  # the tests' and benches' own
        "SHAREHUB_BENCH_PG_URL",
        "SHAREHUB_BENCH_EXAMPLES",
        "SHAREHUB_SOAK_MINUTES",
        "SHAREHUB_SCREENSHOTS",
        "SHAREHUB_CHROMIUM",
    }
)
"""Variables with the prefix that are read elsewhere, not settings."""


def unknown_variables(env: dict[str, str] | None = None) -> list[str]:
    """``SHAREHUB_*`` variables that name no setting (a typo, or a renamed setting)."""
    env = dict(os.environ if env is None else env)
    known = {PREFIX + f.name.upper() for f in fields(Settings)} | NOT_SETTINGS
    return sorted(
        name
        for name in env
        if name.startswith(PREFIX) and not name.startswith(PLUGIN_PREFIX) and name not in known
    )


def plugin_options(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """``SHAREHUB_PLUGIN__MYCDN__PUSH_DOMAIN=x`` -> ``{"mycdn": {"push_domain": "x"}}``."""
    found: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(PLUGIN_PREFIX):
            continue
        plugin, sep, key = name[len(PLUGIN_PREFIX) :].partition("__")
        if not sep or not plugin or not key:
            raise SettingsError(f"{name}: plugin settings are {PLUGIN_PREFIX}<PLUGIN>__<KEY>")
        found.setdefault(plugin.lower(), {})[key.lower()] = value
    return found


def _replace(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]


def _stored_secret(data_dir: Path) -> str:
    """The secret key kept in the data folder, generated on first start."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret
