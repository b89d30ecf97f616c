"""Poll a remote TAXII 2.1 collection (AIS, another ISAC) into the hub with the OASIS
taxii2-client, as one member: each page becomes one signed submission.

The position is the `X-TAXII-Date-Added-Last` of what was submitted, saved per (API root,
collection) in a small JSON file under var/taxii/, so a restart asks only for what was added
after it. Within a poll that is cut short, the position saved after a page is one microsecond
before that page's last date: objects sharing that date on the next page are read again (the
hub's ids make that harmless) rather than skipped.
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests
import requests.auth
from taxii2client.common import TokenAuth
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from connectors.taxii.settings import TaxiiSettings
from connectors.taxii.store import BadQuery, format_timestamp, parse_timestamp
from streams import intake
from streams.settings import Settings


class PollError(RuntimeError):
    """The remote server could not be read: says which server and why."""


class _DateAddedAuth(requests.auth.AuthBase):
    """Authenticates each request and keeps the `X-TAXII-Date-Added-Last` of each response
    (taxii2-client returns only the JSON body)."""

    def __init__(self, inner: requests.auth.AuthBase | None) -> None:
        self.inner = inner
        self.last_date_added: str | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.inner is not None:
            request = self.inner(request)
        self.last_date_added = None
        request.register_hook("response", self._record)
        return request

    def _record(self, response: requests.Response, **_: Any) -> None:
        self.last_date_added = response.headers.get("X-TAXII-Date-Added-Last")


def remote_auth(taxii: TaxiiSettings) -> requests.auth.AuthBase | None:
    if taxii.remote_token is not None:
        token: requests.auth.AuthBase = TokenAuth(taxii.remote_token.get_secret_value())
        return token
    if taxii.remote_user:
        password = taxii.remote_password.get_secret_value() if taxii.remote_password else ""
        return requests.auth.HTTPBasicAuth(taxii.remote_user, password)
    return None


class Positions:
    """`added_after` per (API root, collection), in one JSON file written atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "poll-positions.json"

    def _all(self) -> dict[str, str]:
        try:
            positions: dict[str, str] = json.loads(self.path.read_text())
            return positions
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise PollError(f"{self.path} is damaged ({exc}); remove it to poll from the beginning") from None

    def get(self, key: str) -> str | None:
        return self._all().get(key)

    def put(self, key: str, added_after: str) -> None:
        positions = self._all()
        positions[key] = added_after
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(positions, indent=2, sort_keys=True))
        os.replace(temporary, self.path)


@dataclass
class PollResult:
    pages: int = 0
    objects: int = 0
    submissions: int = 0
    position: str | None = None
    no_dates: bool = False  # the server sends no X-TAXII-Date-Added-Last: every poll reads everything


def collection_url(api_root: str, collection: str) -> str:
    return f"{api_root.rstrip('/')}/collections/{collection}/"


def poll(settings: Settings, taxii: TaxiiSettings, api_root: str, collection: str, member: str,
         tlp: str | None = None, sectors: Sequence[str] = (), on_page: Callable[[PollResult],
                                                                            None] | None = None) -> PollResult:
    """Read everything added since the saved position, submit each page, save the position after each."""
    url = collection_url(api_root, collection)
    positions = Positions(taxii.positions_dir(settings))
    result = PollResult(position=positions.get(url))
    auth = _DateAddedAuth(remote_auth(taxii))
    remote = Collection(url, auth=auth)
    try:
        pages = as_pages(remote.get_objects, per_request=taxii.poll_page_size,
                         **({"added_after": result.position} if result.position else {}))
        for envelope in pages:
            objects = envelope.get("objects") or []
            if objects:
                payload = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
                intake.submit(settings, member, payload, "stix", f"taxii {collection}", tlp, list(sectors))
                result.submissions += 1
            result.pages += 1
            result.objects += len(objects)
            if auth.last_date_added is None:
                result.no_dates = result.no_dates or bool(objects)
            else:
                result.position = _position(auth.last_date_added, more=bool(envelope.get("more")))
                positions.put(url, result.position)
            if on_page is not None:
                on_page(result)
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        hint = {401: "check KIZUNA_TAXII_REMOTE_USER/PASSWORD or _TOKEN", 403: "these credentials may not read it",
                404: "no such API root or collection"}.get(code, "the server refused the request")
        raise PollError(f"{url}: HTTP {code or '?'}: {hint}") from None
    except requests.RequestException as exc:
        raise PollError(f"{url}: cannot reach the server ({type(exc).__name__})") from None
    except TAXIIServiceException as exc:
        raise PollError(f"{url}: not a TAXII 2.1 answer: {exc}") from None
    return result


def _position(date_added: str, more: bool) -> str:
    """Where the next poll starts: the page's last date when the collection was read to its end,
    one microsecond earlier mid-collection (so objects of the same date on the next page are kept)."""
    try:
        micros = parse_timestamp(date_added, "X-TAXII-Date-Added-Last")
    except BadQuery as exc:
        raise PollError(str(exc)) from None
    return format_timestamp(micros - 1) if more else format_timestamp(micros)

