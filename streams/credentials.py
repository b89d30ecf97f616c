"""Credentials the hub issues to a member: its Kafka SCRAM login, its signing key, its API token.

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
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ValidationError

from streams.core.signing import member_key
from streams.settings import ConfigError, Settings, write_private


class Credentials(BaseModel):
    namespace: str
    member: str
    bootstrap_servers: str
    kafka_user: str
    kafka_password: str
    signing_key: str  # hex
    token: str  # HTTP bearer token / basic-auth password (TAXII)

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


def issue(settings: Settings, member: str) -> Credentials:
    """New credentials for `member`, written to the hub's copy (replacing any earlier ones)."""
    creds = Credentials(
        namespace=settings.namespace, member=member, bootstrap_servers=settings.bootstrap_servers,
        kafka_user=principal(settings.namespace, member), kafka_password=secrets.token_urlsafe(24),
        signing_key=member_key(settings.pseudonym_secret(), settings.namespace, member).hex(),
        token=secrets.token_urlsafe(32),
    )
    write_private(path(settings, member), creds.model_dump_json(indent=2))
    return creds


def issued(settings: Settings, member: str) -> bool:
    return path(settings, member).exists()


def withdraw(settings: Settings, member: str) -> None:
    path(settings, member).unlink(missing_ok=True)


def token_matches(creds: Credentials, token: str) -> bool:
    """Constant-time comparison of hashes, so neither length nor prefix leaks."""
    return hmac.compare_digest(hashlib.sha256(creds.token.encode()).digest(), hashlib.sha256(token.encode()).digest())
