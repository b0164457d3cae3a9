"""Static assets of the pages, served under fingerprinted names.

Sources live in ``hub/static/`` (CSS and small scripts written here) and
``hub/static/vendor/`` (npm packages such as hls.js, copied there by ``scripts/setup.sh``
from ``node_modules`` after ``npm ci``). When the hub starts it reads them once, names each
``<stem>.<first 10 hex of its SHA-256><suffix>`` and serves that name with a year-long
``immutable`` cache lifetime: a changed file gets a new name, so a browser never keeps a
stale copy and an unchanged one is never fetched twice. Templates ask for ``asset("js/watch.js")``.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    logical: str
    url: str
    body: bytes
    content_type: str


class MissingAsset(LookupError):
    """A template asked for an asset that is not installed (run ``scripts/setup.sh``)."""


class Assets:
    """Every file under ``root`` by logical name and by fingerprinted URL."""

    def __init__(self, root: Path = STATIC_DIR, prefix: str = "/static/") -> None:
        self.root = root
        self.prefix = prefix
        self.by_name: dict[str, Asset] = {}
        self.by_url: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            logical = path.relative_to(root).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:10]
            stem, dot, suffix = logical.rpartition(".")
            name = f"{stem}.{digest}.{suffix}" if dot else f"{logical}.{digest}"
            content_type = TYPES.get(path.suffix) or (
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            )
            asset = Asset(logical, prefix + name, body, content_type)
            self.by_name[logical] = asset
            self.by_url[name] = asset

    def url(self, logical: str) -> str:
        try:
            return self.by_name[logical].url
        except KeyError:
            raise MissingAsset(
                f"static asset {logical!r} is missing under {self.root} "
                "(front-end packages are installed by scripts/setup.sh: npm ci)"
            ) from None

    def has(self, logical: str) -> bool:
        return logical in self.by_name

    def get(self, logical: str) -> Asset:
        self.url(logical)
        return self.by_name[logical]
