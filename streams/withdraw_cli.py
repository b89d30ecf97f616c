"""`kizuna withdraw`: a member takes back what it shared.

The withdrawal travels like a submission (signed, on the live intake lane) so that it is
ordered with the member's reports of the same record: the merge removes the member's
evidence, sends a new version where others still back the record, and revokes it everywhere
it reached where nobody else does. The member's audit trail records each revocation.
"""
from __future__ import annotations

import json
from typing import Annotated

import typer


def withdraw(
    references: Annotated[list[str], typer.Argument(help="Values you shared (evil.example, 1.2.3.4 ...) or records' "
                                                        "STIX ids as the hub published them (see `kizuna audit`).")],
    member: Annotated[str, typer.Option("--as", help="Your member id (your issued credentials sign it).")],
    as_json: Annotated[bool, typer.Option("--json", help="What was sent, as one JSON object.")] = False,
) -> None:
    """Withdraw your reports of records. A record nobody else reported is revoked within seconds on
    every topic and inbox it reached (and so in the TAXII store, MISP feeds and SIEM exports);
    revocation is final. Exit 2 (nothing sent) if a reference is neither a value nor a STIX id."""
    from streams import intake
    from streams.cliutil import EXIT_KAFKA, out
    from streams.cliutil import fail as _fail
    from streams.cliutil import settings as _settings
    from streams.core.canonical import InvalidValue
    from streams.core.feedback import resolve
    from streams.kafka_io import DeliveryFailed
    from streams.settings import ConfigError

    settings = _settings()
    ids = []
    for reference in references:
        try:
            ids.append(resolve(reference))
        except InvalidValue as exc:
            raise _fail(f"{exc}; nothing was sent / 値または STIX ID ではありません。何も送信していません") from None
    try:
        submission_id = intake.submit(settings, member, "\n".join(references).encode(), "withdrawal", "withdrawal",
                                      bulk=False)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    if as_json:
        out.print_json(json.dumps({"submission_id": submission_id, "member": member, "withdrawn": ids}))
        return
    out.print(f"withdrawal {submission_id}: {len(ids)} record(s) sent; `kizuna audit --as {member}` shows each "
              "revocation / 取り下げを送信しました。失効は監査ログで確認できます")
