"""The TAXII 2.1 API of the hub (aiohttp): discovery, one API root, a collection per topic a
member may read, objects / manifest / versions with `added_after`, `limit` and `next`, and a
write-only intake collection whose POSTs become signed submissions with a status resource.

Every request authenticates as a member (HTTP Basic with the member id and its API token, or
`Authorization: Bearer|Token <token>`). The collections a member sees are the STIX topics
among `streams.access.readable_topics`: the policy the broker's ACLs are made from, never a
copy. A collection the member may not read answers 404, exactly like one that does not exist.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
import time
import uuid
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web
from confluent_kafka import KafkaException

from connectors.taxii.materialize import collection_id, titles
from connectors.taxii.settings import TaxiiSettings
from connectors.taxii.store import VERSION_KEYWORDS, BadQuery, ObjectStore, Page, Query, format_timestamp, parse_timestamp
from streams import access, intake, pki
from streams.core.formats import Limits, parse_submission
from streams.core.normalize import normalize
from streams.kafka_io import DeliveryFailed
from streams.members import Member
from streams.metrics import TAXII_REQUESTS, TAXII_SECONDS
from streams.sectors import canonical_sector
from streams.settings import ConfigError, Settings
from streams.tlp import parse_level
from streams.topics import Topics

log = logging.getLogger("kizuna.taxii")

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
API_ROOT = "api"
_MEMBER = "kizuna.member"  # the authenticated member, on each request


def _taxii_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers={**(headers or {}), "Content-Type": TAXII_MEDIA})


class TaxiiError(Exception):
    """An error answered as a TAXII error message: status, title and what to do about it."""

    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description

    def response(self) -> web.Response:
        body = {"title": self.title, "http_status": str(self.status)}
        if self.description:
            body["description"] = self.description
        headers = {"WWW-Authenticate": 'Basic realm="kizuna TAXII", Bearer'} if self.status == 401 else None
        return _taxii_json(body, self.status, headers)


class Context:
    """What every handler needs: the hub's settings, this connector's, and the store."""

    def __init__(self, settings: Settings, taxii: TaxiiSettings, store: ObjectStore) -> None:
        self.settings, self.taxii, self.store = settings, taxii, store
        self.topics = Topics(settings.namespace)
        self.titles = titles(self.topics)
        self.sector_topics = set(self.titles)
        self.intake_id = collection_id(self.topics.intake)
        self.limits = Limits(settings.max_submission_bytes, settings.max_objects, settings.max_json_depth)

    def readable(self, member: Member) -> dict[str, str]:
        """collection id -> topic, for the STIX topics `member` may read now."""
        stix = self.sector_topics | {self.topics.inbox(member.id)}
        topics = access.readable_topics(self.settings, member.id, max_age_s=self.taxii.access_cache_s)
        return {collection_id(topic): topic for topic in topics if topic in stix}

    def title(self, topic: str) -> str:
        return self.titles.get(topic, "Inbox: records sent to you by name")


_CONTEXT = web.AppKey("kizuna.taxii", Context)


def _accepts_taxii(accept: str) -> bool:
    for media_range in accept.split(","):
        media, *params = [part.strip().lower() for part in media_range.split(";")]
        version = next((p.split("=", 1)[1].strip() for p in params if p.startswith("version=")), None)
        if media in ("*/*", "application/*") or (media == "application/taxii+json" and version in (None, "2.1")):
            return True
    return False


def _credentials(header: str) -> tuple[str | None, str] | None:
    """(user or None, token) from an Authorization header; None if there is none usable."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "token") and value:
        return None, value
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep and password else None
    return None


async def _authenticate(request: web.Request, ctx: Context) -> Member:
    given = _credentials(request.headers.get("Authorization", ""))
    if given is None:
        raise TaxiiError(401, "Authentication required",
                         "send HTTP Basic (member id and API token) or Authorization: Bearer <API token>")
    user, token = given
    member = await asyncio.to_thread(access.member_for_token, ctx.settings, token)
    if member is None or (user is not None and user != member.id):
        raise TaxiiError(401, "Unknown credentials", "the token is not one the hub issued to that member")
    return member


@web.middleware
async def taxii_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Authentication, content negotiation, TAXII error messages and metrics for every request."""
    ctx: Context = request.app[_CONTEXT]
    resource = request.match_info.route.resource
    endpoint = resource.canonical if resource is not None else "unmatched"  # a template: no ids in labels
    started = time.monotonic()
    try:
        if not request.secure and not ctx.taxii.plain_http_ok():
            raise TaxiiError(403, "HTTPS required", "credentials are not accepted over plain HTTP; use https://")
        if not _accepts_taxii(request.headers.get("Accept", TAXII_MEDIA)):
            raise TaxiiError(406, "Not acceptable", f"this server answers {TAXII_MEDIA}")
        request[_MEMBER] = await _authenticate(request, ctx)
        response = await handler(request)
    except TaxiiError as exc:
        response = exc.response()
    except BadQuery as exc:
        response = TaxiiError(400, "Bad request", str(exc)).response()
    except web.HTTPException as exc:  # no such route, method not allowed, body too large
        response = TaxiiError(exc.status, exc.reason).response()
    except KafkaException as exc:
        log.error("TAXII %s %s: Kafka: %s", request.method, endpoint, exc)
        response = TaxiiError(503, "The hub is unavailable", "its Kafka cannot be reached; try again later").response()
    except Exception:
        log.exception("TAXII %s %s failed", request.method, endpoint)
        response = TaxiiError(500, "Internal error", "the hub could not answer; its log has the details").response()
    TAXII_REQUESTS.labels(endpoint, str(response.status)).inc()
    TAXII_SECONDS.labels(endpoint).observe(time.monotonic() - started)
    return response


def _root_url(request: web.Request, ctx: Context) -> str:
    base = ctx.taxii.public_url or f"{request.scheme}://{request.host}"
    return f"{base}/{API_ROOT}/"


async def discovery(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    root = _root_url(request, ctx)
    return _taxii_json({"title": f"{ctx.settings.hub_name} TAXII", "default": root, "api_roots": [root],
                        "description": "Threat indicators shared through the kizuna hub, per TLP and sector."})


async def api_root(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    return _taxii_json({"title": ctx.settings.hub_name, "versions": [TAXII_MEDIA],
                        "max_content_length": ctx.settings.max_submission_bytes,
                        "description": "One collection per audience you are entitled to read, and the intake."})


def _collection(ctx: Context, cid: str, topic: str) -> dict[str, Any]:
    return {"id": cid, "title": ctx.title(topic), "can_read": True, "can_write": False, "media_types": [STIX_MEDIA]}


def _intake(ctx: Context) -> dict[str, Any]:
    return {"id": ctx.intake_id, "title": "Intake", "can_read": False, "can_write": True, "media_types": [STIX_MEDIA],
            "description": "POST a STIX 2.1 envelope to submit it to the hub (?tlp=LEVEL&sector=S for its scope)."}


async def _readable(request: web.Request) -> dict[str, str]:
    ctx: Context = request.app[_CONTEXT]
    return await asyncio.to_thread(ctx.readable, request[_MEMBER])


async def collections(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    readable = await _readable(request)
    return _taxii_json({"collections": [_collection(ctx, cid, topic) for cid, topic in readable.items()] + [_intake(ctx)]})


async def _topic(request: web.Request) -> str:
    """The topic of a collection the member may read; 404 for any other (not even its existence leaks)."""
    ctx: Context = request.app[_CONTEXT]
    cid = request.match_info["collection"]
    if cid == ctx.intake_id:
        raise TaxiiError(403, "The intake collection is write-only", "read the collections listed for you instead")
    topic = (await _readable(request)).get(cid)
    if topic is None:
        raise TaxiiError(404, "No such collection", f"no collection {cid[:64]!r} is readable with these credentials")
    return topic


async def collection(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    if request.match_info["collection"] == ctx.intake_id:
        return _taxii_json(_intake(ctx))
    topic = await _topic(request)
    return _taxii_json(_collection(ctx, request.match_info["collection"], topic))


def _list(request: web.Request, name: str) -> tuple[str, ...]:
    raw = request.query.get(name)
    return tuple(v.strip() for v in raw.split(",") if v.strip()) if raw else ()


def _query(request: web.Request, filters: bool = True) -> Query:
    ctx: Context = request.app[_CONTEXT]
    raw_limit = request.query.get("limit")
    if raw_limit is not None and not (raw_limit.isdigit() and int(raw_limit) > 0):
        raise BadQuery(f"limit {raw_limit[:20]!r} is not a positive whole number")
    limit = min(int(raw_limit), ctx.taxii.page_size_max) if raw_limit else ctx.taxii.page_size_max
    added_after = request.query.get("added_after")
    versions: tuple[str | int, ...] = ("last",)
    if filters and _list(request, "match[version]"):
        versions = tuple(v if v in VERSION_KEYWORDS else parse_timestamp(v, "match[version]")
                         for v in _list(request, "match[version]"))
    return Query(limit=limit, next=request.query.get("next"),
                 added_after=parse_timestamp(added_after, "added_after") if added_after else None,
                 ids=_list(request, "match[id]") if filters else (), types=_list(request, "match[type]") if filters else (),
                 versions=versions if filters else ("all",))


def _spec_version_excluded(request: web.Request) -> bool:
    """Every object here is STIX 2.1: asking only for other spec versions matches nothing."""
    wanted = _list(request, "match[spec_version]")
    return bool(wanted) and "2.1" not in wanted


def _dates_added(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return {"X-TAXII-Date-Added-First": format_timestamp(page.rows[0].added),
            "X-TAXII-Date-Added-Last": format_timestamp(page.rows[-1].added)}


def _envelope(page: Page, key: str, items: list[Any]) -> web.Response:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if items:
        body[key] = items
    return _taxii_json(body, headers=_dates_added(page))


def _objects_response(page: Page) -> web.Response:
    if not page.rows:
        return _envelope(page, "objects", [])
    # The stored JSON as it is: no parse and re-serialise per object.
    head = orjson.dumps({"more": page.more, **({"next": page.next} if page.next else {})})
    body = head[:-1] + b',"objects":[' + ",".join(row.body for row in page.rows).encode() + b"]}"
    return web.Response(body=body, headers={**_dates_added(page), "Content-Type": TAXII_MEDIA})


async def objects(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    topic = await _topic(request)
    if _spec_version_excluded(request):
        return _envelope(Page([], False, None), "objects", [])
    page = await asyncio.to_thread(ctx.store.page, collection_id(topic), _query(request))
    return _objects_response(page)


async def manifest(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    topic = await _topic(request)
    if _spec_version_excluded(request):
        return _envelope(Page([], False, None), "objects", [])
    page = await asyncio.to_thread(ctx.store.page, collection_id(topic), _query(request))
    return _envelope(page, "objects", [{"id": row.id, "date_added": format_timestamp(row.added),
                                        "version": format_timestamp(row.modified), "media_type": STIX_MEDIA}
                                       for row in page.rows])


async def get_object(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    topic = await _topic(request)
    query = _query(request)
    object_id = request.match_info["object"]
    page = await asyncio.to_thread(ctx.store.page, collection_id(topic), replace(query, ids=(object_id,), types=()))
    if not page.rows and query.next is None and query.added_after is None:
        raise TaxiiError(404, "No such object", f"no object {object_id[:100]!r} in this collection")
    return _objects_response(page)


async def versions(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    topic = await _topic(request)
    object_id = request.match_info["object"]
    page = await asyncio.to_thread(ctx.store.versions, collection_id(topic), object_id, _query(request, filters=False))
    if not page.rows and request.query.get("next") is None and request.query.get("added_after") is None:
        raise TaxiiError(404, "No such object", f"no object {object_id[:100]!r} in this collection")
    return _envelope(page, "versions", [format_timestamp(row.modified) for row in page.rows])


async def add_objects(request: web.Request) -> web.Response:
    """POST to the intake collection: one signed submission, checked here by the hub's own parser."""
    ctx: Context = request.app[_CONTEXT]
    member: Member = request[_MEMBER]
    if request.match_info["collection"] != ctx.intake_id:
        await _topic(request)  # 404 unless readable; readable ones are read-only
        raise TaxiiError(403, "This collection is read-only", f"POST to the intake collection {ctx.intake_id}")
    media = request.headers.get("Content-Type", "").replace(" ", "").lower()
    if media not in ("application/taxii+json", TAXII_MEDIA):
        raise TaxiiError(415, "Unsupported media type", f"send {TAXII_MEDIA}")
    tlp = request.query.get("tlp")
    if tlp is not None and parse_level(tlp) is None:
        raise TaxiiError(400, "Bad request", f"tlp {tlp[:20]!r} is not a TLP level (clear, green, amber, amber+strict, red)")
    sectors = request.query.getall("sector", [])
    unknown = [s[:40] for s in sectors if canonical_sector(s) is None]
    if unknown:
        raise TaxiiError(400, "Bad request", f"unknown sector(s) {', '.join(unknown)}")
    try:
        envelope = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(400, "Bad request", f"the body is not JSON: {exc}") from None
    submitted = envelope.get("objects") if isinstance(envelope, dict) else None
    if not isinstance(submitted, list) or not submitted:
        raise TaxiiError(400, "Bad request", 'expected a TAXII envelope: {"objects": [STIX objects ...]}')
    received = time.time()
    payload = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": submitted})
    sectors = [canonical_sector(s) for s in sectors]
    problems = await asyncio.to_thread(_check, ctx, member, payload, tlp, sectors)
    try:
        submission_id = await asyncio.to_thread(intake.submit, ctx.settings, member.id, payload, "stix", "taxii",
                                                tlp, sectors)
    except DeliveryFailed as exc:
        log.error("TAXII intake: a submission was not delivered: %s", exc)
        raise TaxiiError(503, "The hub cannot take submissions now", "nothing was submitted; try again later") from None
    except ConfigError:  # the member's issued credentials are missing here; the log names no member
        log.error("TAXII intake: a member's issued credentials are missing on this hub (`kizuna members sync`)")
        raise TaxiiError(503, "The hub cannot take submissions now", "nothing was submitted; try again later") from None
    status = _status(submission_id, received, submitted, problems)
    await asyncio.to_thread(ctx.store.save_status, submission_id, member.id, status)
    return _taxii_json(status, status=202)


def _check(ctx: Context, member: Member, payload: bytes, tlp: str | None, sectors: list[str]) -> dict[str, str]:
    """where -> reason for what the hub's parser and scope rules will reject (as `kizuna submit` shows)."""
    parsed = parse_submission(payload, "stix", "taxii", ctx.limits)
    envelope = {"submission_id": "check", "received_at": int(time.time() * 1000), "submitter": member.id,
                "tlp": tlp, "sectors": sectors, "recipients": []}
    checked = normalize(envelope, parsed, "check", member_tlp=member.default_tlp)
    return {r["where"]: f"{r['reason']} [{r['code']}]" for r in checked.rejections}


def _status(submission_id: str, received: float, submitted: list[Any], problems: dict[str, str]) -> dict[str, Any]:
    """The TAXII status resource: each submitted object succeeded unless the parser rejected it (by
    its own id, as `object <id>`) or the whole submission was rejected (any other `where`)."""
    whole = next((reason for where, reason in problems.items() if not where.startswith(("object ", "objects["))), None)
    successes, failures = [], []
    for index, obj in enumerate(submitted):
        oid = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
        detail: dict[str, Any] = {"id": oid or f"objects[{index}]"}
        if isinstance(obj, dict) and isinstance(obj.get("modified") or obj.get("created"), str):
            detail["version"] = obj.get("modified") or obj.get("created")
        reason = whole or problems.get(f"object {oid}" if oid else f"objects[{index}]")
        if reason:
            failures.append({**detail, "message": reason})
        else:
            successes.append(detail)
    return {"id": submission_id, "status": "complete",
            "request_timestamp": format_timestamp(int(received * 1_000_000)),
            "total_count": len(submitted), "success_count": len(successes), "successes": successes,
            "failure_count": len(failures), "failures": failures, "pending_count": 0, "pendings": []}


async def status(request: web.Request) -> web.Response:
    ctx: Context = request.app[_CONTEXT]
    found = await asyncio.to_thread(ctx.store.status, request.match_info["status"], request[_MEMBER].id)
    if found is None:
        raise TaxiiError(404, "No such status", "status resources are kept for the member that made the request")
    return _taxii_json(found)


def tls_context(settings: Settings, taxii: TaxiiSettings) -> ssl.SSLContext | None:
    """The server's TLS context: the operator's certificate, else one from the hub's local CA
    (made once under var/secrets/tls/); None when TLS is off, which needs an explicit reason."""
    if not taxii.tls:
        if not taxii.plain_http_ok():
            raise ConfigError("KIZUNA_TAXII_TLS=false serves plain HTTP: put a TLS proxy in front and set "
                              "KIZUNA_TAXII_PUBLIC_URL=https://..., "
                              "or set KIZUNA_TAXII_ALLOW_PLAIN_HTTP=true (development)")
        return None
    if taxii.tls_cert_file is not None and taxii.tls_key_file is not None:
        chain, key = taxii.tls_cert_file, taxii.tls_key_file
    else:
        ca_dir = settings.ca_file().parent
        if not pki.can_issue(ca_dir):
            raise ConfigError("no TAXII server certificate: set KIZUNA_TAXII_TLS_CERT_FILE and "
                              f"KIZUNA_TAXII_TLS_KEY_FILE (the hub's CA key is not in {ca_dir}, so it cannot issue one)")
        chain, key = pki.server_certificate(ca_dir, settings.secrets_dir / "tls", "taxii",
                                            list(dict.fromkeys([taxii.host, "localhost", "127.0.0.1"])))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(chain, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TAXII TLS certificate {chain} / key {key}: {exc}") from None
    return context


def build_app(settings: Settings, taxii: TaxiiSettings, store: ObjectStore) -> web.Application:
    app = web.Application(middlewares=[taxii_middleware], client_max_size=settings.max_submission_bytes + 65536)
    app[_CONTEXT] = Context(settings, taxii, store)
    root = f"/{API_ROOT}"
    collection_path = root + "/collections/{collection}"
    app.router.add_get("/taxii2/", discovery)
    app.router.add_get(root + "/", api_root)
    app.router.add_get(root + "/collections/", collections)
    app.router.add_get(collection_path + "/", collection)
    app.router.add_get(collection_path + "/objects/", objects)
    app.router.add_post(collection_path + "/objects/", add_objects)
    app.router.add_get(collection_path + "/objects/{object}/", get_object)
    app.router.add_get(collection_path + "/objects/{object}/versions/", versions)
    app.router.add_get(collection_path + "/manifest/", manifest)
    app.router.add_get(root + "/status/{status}/", status)
    app.router.add_get(root + "/status/{status}", status)  # taxii2-client asks without the slash
    return app
