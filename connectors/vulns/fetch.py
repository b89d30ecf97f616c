"""HTTP for the pollers: conditional requests, a pause between requests to one host, retries with
backoff, a size limit, and the positions each source keeps between runs (one JSON file)."""
from __future__ import annotations

import email.utils
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

log = logging.getLogger("kizuna.vulns")
RETRIED = {429, 500, 502, 503, 504}


class FetchFailed(RuntimeError):
    """A source did not answer usefully after every retry; the poll resumes from its saved position."""


@dataclass
class Response:
    status: int  # 200, or 304 when the validators say nothing changed
    body: bytes
    headers: dict[str, str]
    url: str = ""


class State:
    """Positions and HTTP validators, saved atomically after each step so a restart resumes there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        temporary.replace(self.path)


class Http:
    def __init__(self, state: State, min_interval_s: float, retries: int, backoff_s: float, timeout_s: float,
                 max_bytes: int, user_agent: str = "kizuna-vulns/1") -> None:
        self.state, self.min_interval_s, self.retries = state, min_interval_s, retries
        self.backoff_s, self.timeout_s, self.max_bytes, self.user_agent = backoff_s, timeout_s, max_bytes, user_agent
        self._last: dict[str, float] = {}

    def _pace(self, host: str) -> None:
        wait = self._last.get(host, 0.0) + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last[host] = time.monotonic()

    def get(self, url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
            conditional: bool = False) -> Response:
        """GET with retries; with `conditional`, sends the validators of the last answer and may get 304."""
        full = f"{url}?{urlencode(params)}" if params else url
        sent = {"User-Agent": self.user_agent, "Accept-Encoding": "identity", **(headers or {})}
        validators = self.state.get("http", {}).get(url, {}) if conditional else {}
        if validators.get("etag"):
            sent["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            sent["If-Modified-Since"] = validators["last_modified"]
        host = urlsplit(url).netloc
        for attempt in range(self.retries + 1):
            self._pace(host)
            wait = self.backoff_s * 2 ** attempt
            try:
                request = urllib.request.Request(full, headers=sent)
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                    body = answer.read(self.max_bytes + 1)
                    if len(body) > self.max_bytes:
                        raise FetchFailed(f"{host}: answer larger than {self.max_bytes} bytes (KIZUNA_VULNS_MAX_BYTES)")
                    got = {k.lower(): v for k, v in answer.headers.items()}
                    return Response(answer.status, body, got, url)
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return Response(304, b"", {})
                if exc.code not in RETRIED or attempt == self.retries:
                    raise FetchFailed(f"{host}: HTTP {exc.code} {exc.reason}") from None
                wait = max(wait, _retry_after(exc.headers.get("Retry-After")))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    raise FetchFailed(f"{host}: {getattr(exc, 'reason', exc)}") from None
            log.warning("vulns: %s did not answer (attempt %d of %d); retrying in %.1f s", host, attempt + 1,
                        self.retries + 1, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def done(self, response: Response) -> None:
        """Keep the validators of an answer once it has been used (published), not before."""
        known = dict(self.state.get("http", {}))
        known[response.url] = {k: response.headers[h] for k, h in (("etag", "etag"), ("last_modified", "last-modified"))
                               if h in response.headers}
        self.state.put("http", known)


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    if value.strip().isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value)
    return max(0.0, when.timestamp() - time.time())
