"""Credentials the hub issues to a member: its Kafka SCRAM login, its TLS client certificate, its
signing key, its API token, and the CA certificate that proves the brokers are the hub's.

`kizuna members add` (or `kizuna setup` for members already in the registry)
writes one JSON file per member under var/secrets/members/<namespace>/, mode
0600. That file is what the operator hands to the member; on the member's
machine `KIZUNA_CREDENTIALS_FILE` points at it. The hub keeps its copy to check
API tokens and to submit on a member's behalf (TAXII intake, pollers).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ValidationError

from streams import pki
from streams.core.signing import Keyring, member_key
from streams.settings import ConfigError, Settings, write_private


class Credentials(BaseModel):
    namespace: str
    member: str
    bootstrap_servers: str
    kafka_user: str
    kafka_password: str
    signing_key: str  # hex, of generation `signing_generation` (streams.core.signing.member_key)
    token: str  # HTTP bearer token / basic-auth password (TAXII)
    # TLS (None in files issued before the hub spoke TLS: `kizuna members rotate` reissues them).
    ca_cert: str | None = None  # PEM: the CA that signs the brokers' (and TAXII server's) certificates
    cert_bootstrap_servers: str | None = None  # the client-certificate listener, for stock tools
    client_cert: str | None = None  # PEM chain, CN = kafka_user, OU = cert<cert_generation>
    client_key: str | None = None  # PEM, PKCS#8
    cert_generation: int = 0  # 1 for the first certificate, +1 per rotation
    signing_generation: int = 0  # 0 for the first signing key, +1 per rotation
    # After `kizuna members rotate`: the old token, certificate and signing key stay valid until
    # `previous_until` (unix seconds); the old SCRAM password does not (Kafka keeps one credential per user).
    previous_token_sha256: str | None = None
    previous_cert_principal: str | None = None
    previous_until: float = 0.0

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.signing_key)


def principal(namespace: str, member: str) -> str:
    """A member's SCRAM user. The dot keeps it apart from the hub's `<namespace>-hub`."""
    return f"{namespace}.{member}"


def hub_principal(namespace: str) -> str:
    return f"{namespace}-hub"


def path(settings: Settings, member: str) -> Path:
    return settings.secrets_dir / "members" / settings.namespace / f"{member}.json"


def load(settings: Settings, member: str) -> Credentials:
    """The member's credentials: KIZUNA_CREDENTIALS_FILE if it is theirs, else the hub's issued copy."""
    candidates = [settings.credentials_file] if settings.credentials_file else []
    candidates.append(path(settings, member))
    for candidate in candidates:
        try:
            stat = os.stat(candidate)
        except FileNotFoundError:
            continue
        creds = _parse(candidate, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if creds is not None and creds.member == member and creds.namespace == settings.namespace:
            return creds
    raise ConfigError(f"no credentials for member {member!r} in namespace {settings.namespace!r}: "
                      f"set KIZUNA_CREDENTIALS_FILE to the file the hub issued, or run `kizuna members add` on the hub")


@lru_cache(maxsize=4096)
def _parse(file: Path, inode: int, mtime_ns: int, size: int) -> Credentials | None:
    """A credentials file, parsed once per version of it (the TAXII server asks on every request);
    None when it went away meanwhile."""
    try:
        return Credentials.model_validate_json(file.read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError as exc:
        raise ConfigError(f"credentials file {file} is damaged: {exc.errors()[0]['msg']}") from None


def keyring(settings: Settings, member: str) -> Keyring:
    """The signing keys the hub accepts from `member` (read from the hub's copy of its credentials, as
    the workers verify signatures with it); generation 0 without a file (members issued before
    rotation existed, and the agents' tests)."""
    file = path(settings, member)
    try:
        stat = os.stat(file)
    except FileNotFoundError:
        return Keyring()
    creds = _parse(file, stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return Keyring(creds.signing_generation, creds.previous_until) if creds is not None else Keyring()


def cert_principal(creds: Credentials) -> str | None:
    """The principal the broker gives the member's current client certificate (see streams.pki)."""
    return f"{creds.kafka_user}.cert{creds.cert_generation}" if creds.client_cert else None


def principals(creds: Credentials, now: float) -> list[str]:
    """Every principal the member's rules are granted to now: its SCRAM user, its certificate's, and
    the previous certificate's while the rotation overlap lasts."""
    found = [creds.kafka_user, cert_principal(creds)]
    if creds.previous_cert_principal and now < creds.previous_until:
        found.append(creds.previous_cert_principal)
    return [p for p in found if p]


def issue(settings: Settings, member: str, previous: Credentials | None = None, overlap_s: float = 0.0) -> Credentials:
    """New credentials for `member`, written to the hub's copy (replacing any earlier ones). The client
    certificate is issued when this hub holds its CA's key (the local CA; not an operator's own CA).
    Replacing `previous` (a rotation), the signing key moves to the next generation, and the previous
    token, certificate and signing key stay valid `overlap_s` longer."""
    user = principal(settings.namespace, member)
    tls: dict[str, str | int] = {}
    if settings.kafka_security == "sasl_ssl":
        ca_file = settings.ca_file()
        tls = {"ca_cert": ca_file.read_text(), "cert_bootstrap_servers": settings.cert_servers()}
        if pki.can_issue(ca_file.parent):
            generation = (previous.cert_generation if previous else 0) + 1
            issued = pki.client_certificate(ca_file.parent, user, generation)
            tls |= {"client_cert": issued.cert, "client_key": issued.key, "cert_generation": generation}
    signing_generation = previous.signing_generation + 1 if previous is not None else 0
    retiring: dict[str, str | float | None] = {}
    if previous is not None and overlap_s > 0:
        retiring = {"previous_token_sha256": hashlib.sha256(previous.token.encode()).hexdigest(),
                    "previous_cert_principal": cert_principal(previous), "previous_until": time.time() + overlap_s}
    creds = Credentials.model_validate({
        "namespace": settings.namespace, "member": member, "bootstrap_servers": settings.bootstrap_servers,
        "kafka_user": user, "kafka_password": secrets.token_urlsafe(24),
        "signing_key": member_key(settings.pseudonym_secret(), settings.namespace, member, signing_generation).hex(),
        "signing_generation": signing_generation,
        "token": secrets.token_urlsafe(32), **tls, **retiring,
    })
    write_private(path(settings, member), creds.model_dump_json(indent=2))
    return creds


def issued(settings: Settings, member: str) -> bool:
    return path(settings, member).exists()


def withdraw(settings: Settings, member: str) -> None:
    path(settings, member).unlink(missing_ok=True)


def token_matches(creds: Credentials, token: str) -> bool:
    """The current token, or the previous one during a rotation's overlap. Constant-time comparison of
    hashes, so neither length nor prefix leaks."""
    given = hashlib.sha256(token.encode()).digest()
    if hmac.compare_digest(hashlib.sha256(creds.token.encode()).digest(), given):
        return True
    previous = bytes.fromhex(creds.previous_token_sha256) if creds.previous_token_sha256 else b""
    return time.time() < creds.previous_until and hmac.compare_digest(previous, given)
