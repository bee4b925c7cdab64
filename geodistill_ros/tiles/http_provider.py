"""XYZ tiles over HTTP(S) with ``requests``: timeouts, bounded retries with backoff, User-Agent, API key from
an environment variable (never logged), a cap on concurrent requests and on response size.

Template placeholders: ``{z}``, ``{x}``, ``{y}``, ``{-y}`` (TMS row), ``{s}`` (subdomain), ``{q}`` (quadkey),
``{apikey}`` (the value of the environment variable named by ``api_key_env``).  Redirects are never followed
(an HTTP -> HTTPS redirect is reported so the user fixes the template).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time

import requests
from requests.adapters import HTTPAdapter

from .. import geometry as geo
from .errors import (
    TileContentTypeError,
    TileDecodeError,
    TileFetchError,
    TileForbidden,
    TileHTTPError,
    TileNotFound,
    TileRedirectError,
    TileServerDown,
    TileSourceError,
    TileTimeout,
    TileTooLarge,
)
from .provider import ProviderInfo, TileProvider

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "geodistill_ros/0.1 (+https://github.com/geodistill_ros; tile fetcher)"
DEFAULT_API_KEY_ENV = "GEODISTILL_TILES_API_KEY"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KNOWN = {"z", "x", "y", "-y", "s", "q", "apikey"}
_OK_CONTENT_TYPES = ("application/octet-stream", "binary/octet-stream")


class _RedactSecrets(logging.Filter):
    """Scrubs API keys from records of the HTTP libraries (urllib3 logs full URLs at DEBUG level)."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            if any(s in msg for s in self.secrets):
                for s in self.secrets:
                    msg = msg.replace(s, "***")
                record.msg, record.args = msg, ()
        return True


_REDACT = _RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_REDACT)


class HttpTileProvider(TileProvider):
    remote = True

    def __init__(self, template: str, *, user_agent: str | None = None, timeout_s: float = 5.0,
                 max_retries: int = 2, backoff_s: float = 0.25, max_concurrency: int = 8,
                 max_tile_bytes: int = 4 << 20, api_key_env: str = DEFAULT_API_KEY_ENV,
                 api_key_header: str | None = None, subdomains: str = "abc", use_env_proxies: bool = True,
                 info: ProviderInfo | None = None):
        super().__init__(info)
        if not template.lower().startswith(("http://", "https://")):
            raise TileSourceError(f"not an http(s) URL template: {template!r}")
        names = set(_PLACEHOLDER.findall(template))
        unknown = names - _KNOWN
        if unknown:
            raise TileSourceError(f"unknown placeholder(s) {sorted(unknown)} in URL template")
        if not ({"z", "x"} <= names and names & {"y", "-y"}) and "q" not in names:
            raise TileSourceError("URL template needs {z}, {x} and {y} (or {-y}), or {q}")
        if timeout_s <= 0 or max_concurrency < 1 or max_retries < 0 or max_tile_bytes < 1:
            raise TileSourceError("timeout_s, max_concurrency, max_tile_bytes must be positive, max_retries >= 0")
        self.template = template
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_concurrency = int(max_concurrency)
        self.max_tile_bytes = int(max_tile_bytes)
        self.subdomains = subdomains or "a"
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self.api_key_header = api_key_header
        self.use_env_proxies = bool(use_env_proxies)
        self._api_key = os.environ.get(api_key_env, "") if ("apikey" in names or api_key_header) else ""
        if ("apikey" in names or api_key_header) and not self._api_key:
            raise TileSourceError(f"the tile source needs an API key: set the environment variable {api_key_env}")
        if self._api_key:
            _REDACT.secrets.add(self._api_key)
        # The id keys the disk cache: the template text without the key (the key is never in it).
        self.provider_id = f"xyz:{template}"
        self._sem = threading.BoundedSemaphore(self.max_concurrency)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.max_concurrency, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = self.user_agent
            s.headers["Accept"] = "image/png,image/jpeg,image/webp,image/*;q=0.8"
            if self.api_key_header:
                s.headers[self.api_key_header] = self._api_key
            s.trust_env = self.use_env_proxies  # HTTP(S)_PROXY / NO_PROXY from the environment
            self._local.session = s
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def url(self, z: int, x: int, y: int) -> str:
        values = {"z": str(z), "x": str(x), "y": str(y), "-y": str(geo.tms_row(y, z)),
                  "s": self.subdomains[(x + y) % len(self.subdomains)], "q": geo.quadkey(x, y, z),
                  "apikey": self._api_key}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***`` (used on everything that may be shown or logged)."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def describe(self) -> str:
        return self.redact(self.template)

    # -- fetching -----------------------------------------------------------------------------------------
    def fetch(self, z: int, x: int, y: int) -> bytes:
        tile = (z, x, y)
        url = self.url(z, x, y)
        safe_url = self.redact(url)
        attempt = 0
        while True:
            try:
                with self._sem:
                    return self._fetch_once(url, safe_url, tile)
            except (TileServerDown, TileTimeout, TileHTTPError) as exc:
                retryable = not isinstance(exc, TileHTTPError) or (exc.status or 0) >= 500 or exc.status == 429
                if not retryable or attempt >= self.max_retries:
                    raise
                delay = self.backoff_s * (2**attempt)
                log.debug("tile %s: %s; retry %d in %.2fs", safe_url, type(exc).__name__, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    def _fetch_once(self, url: str, safe_url: str, tile) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        try:
            resp = self._session().get(url, timeout=(self.timeout_s, self.timeout_s), stream=True,
                                       allow_redirects=False)
        except requests.exceptions.Timeout:  # (exceptions from requests hold the raw URL: never chained)
            raise TileTimeout(f"timeout after {self.timeout_s:g}s: {safe_url}", tile) from None
        except requests.exceptions.ConnectionError:
            raise TileServerDown(f"cannot reach the tile server: {safe_url}", tile) from None
        except requests.exceptions.RequestException as exc:
            raise TileFetchError(f"request failed ({type(exc).__name__}): {safe_url}", tile) from None
        with resp:
            status = resp.status_code
            if 300 <= status < 400:
                location = self.redact(resp.headers.get("Location", ""))
                hint = ("; the server wants HTTPS: use https:// in the URL template"
                        if url.startswith("http://") and location.startswith("https://") else "")
                raise TileRedirectError(f"HTTP {status} redirect to {location or '?'}{hint} ({safe_url})", tile,
                                        status)
            if status in (404, 410, 204):
                raise TileNotFound(f"HTTP {status}: no tile at {safe_url}", tile, status)
            if status in (401, 403):
                raise TileForbidden(f"HTTP {status}: access refused (API key? User-Agent?) for {safe_url}", tile,
                                    status)
            if status != 200:
                raise TileHTTPError(f"HTTP {status} for {safe_url}", tile, status)
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype and not (ctype.startswith("image/") or ctype in _OK_CONTENT_TYPES):
                raise TileContentTypeError(f"Content-Type {ctype!r} is not an image: {safe_url}", tile)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_tile_bytes:
                raise TileTooLarge(f"tile of {int(length)} bytes exceeds the {self.max_tile_bytes}-byte cap: "
                                   f"{safe_url}", tile)
            body = bytearray()
            try:
                for chunk in resp.iter_content(chunk_size=65536):
                    body += chunk
                    if len(body) > self.max_tile_bytes:
                        raise TileTooLarge(f"tile exceeds the {self.max_tile_bytes}-byte cap: {safe_url}", tile)
                    if time.monotonic() > deadline:
                        raise TileTimeout(f"download slower than {self.timeout_s:g}s: {safe_url}", tile)
            except requests.exceptions.RequestException as exc:
                text = repr(exc).lower()
                if "timed out" in text or "timeout" in text:
                    raise TileTimeout(f"timeout after {self.timeout_s:g}s: {safe_url}", tile) from None
                raise TileServerDown(f"connection broken while reading {safe_url}", tile) from None
        if not body:
            raise TileDecodeError(f"empty response body: {safe_url}", tile)
        return bytes(body)

    def close(self) -> None:
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

