"""`kizuna members rotate ID`: new credentials for a member, the old ones retired.

What is replaced, and how long the old one keeps working (the overlap, `--overlap-s`):
- the SCRAM password: at once, no overlap. Kafka keeps one SCRAM credential per user and
  mechanism; new logins with the old password are refused from the moment the command returns
  (connections already open stay open until they reconnect).
- the TLS client certificate (new key, `OU=cert<n+1>`): the old certificate's principal keeps the
  member's ACLs until the overlap ends, then `kizuna members sync` drops them (within a second
  with `--follow`, which `make run` runs).
- the API token (TAXII): the old one is accepted until the overlap ends.
- the signing key (of submissions, feedback and asset changes): the next generation
  (streams.core.signing); the workers accept the previous one until the overlap ends, then refuse
  it (and every older one) with the reason `retired-key`.
"""
from __future__ import annotations

import json
from typing import Annotated

import typer

from streams import access, credentials, members
from streams import cliutil as ui
from streams.settings import ConfigError, Settings


def rotate(settings: Settings, member_id: str, overlap_s: float) -> credentials.Credentials:
    """Issue, then apply on the broker: the new password and the new certificate's ACLs."""
    from streams.kafka_io import admin

    registry = members.load(settings.members_file)
    previous = credentials.load(settings, member_id)
    creds = credentials.issue(settings, member_id, previous, overlap_s)
    client = admin(settings)
    access.set_password(client, creds.kafka_user, creds.kafka_password)
    access.sync(settings, client, registry, access.standings(settings, registry))
    return creds


def members_rotate(
    member_id: Annotated[str, typer.Argument(help="Member id.")],
    overlap_s: Annotated[float, typer.Option("--overlap-s", min=0, max=30 * 86_400,
                                             help="How long the old token, certificate and signing key keep "
                                                  "working.")] = 86_400,
    as_json: Annotated[bool, typer.Option("--json", help="What was rotated, as one JSON object.")] = False,
) -> None:
    """New SCRAM password (old refused at once), client certificate, API token and signing key (old ones
    accepted for --overlap-s); hand the member its new credentials file."""
    import time

    settings = ui.settings()
    if ui.registry(settings).get(member_id) is None:
        raise ui.fail(f"no member {member_id!r}; `kizuna members` lists them", ui.EXIT_UNUSABLE)
    try:
        creds = rotate(settings, member_id, overlap_s)
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(creds.previous_until)) if overlap_s else "now"
    if as_json:
        ui.out.print_json(json.dumps({
            "member": member_id, "credentials_file": str(credentials.path(settings, member_id)),
            "certificate_generation": creds.cert_generation, "signing_key_generation": creds.signing_generation,
            "old_password_refused_from": "now", "old_token_and_certificate_until": until,
            "old_signing_key_until": until}))
        return
    ui.out.print(f"member {member_id}: new password (the old one is refused now), new API token, client "
                  f"certificate and signing key (the old ones work until {until}); hand it "
                  f"{credentials.path(settings, member_id)}")
