"""A match as the member reads it: STIX 2.1 objects for its inbox, and back out for the CLI and SIEMs.

A notice is four objects, one Kafka record each (keyed by STIX id, as every inbox record):
`vulnerability` (CVE and JVNDB external references; English from NVD, or Japanese when JVN is
the only text), a `language-content` with the Japanese (or English) title and description beside
it, the member's matched `software` (an SCO with its deterministic id) and a `relationship`
software --has--> vulnerability that carries the match basis. CVSS, the KEV flag and due date
travel in kizuna's vulnerability-notice extension (schemas/kizuna-vuln-extension.json).
The vulnerability is TLP:CLEAR (public data); software and relationship are TLP:AMBER+STRICT:
they say what this member runs.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import orjson

from streams.core.canonical import object_id
from streams.core.vuln_match import Decision, View
from streams.core.vuln_model import WILDCARDS, Software
from streams.tlp import TLP

EXTENSION_ID = "extension-definition--" + object_id("extension-definition", "kizuna-vuln-notice/1").split("--")[1]
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")  # STIX 2.1 section 2.9

BASIS_TEXT: dict[str, dict[str, str]] = {
    "exact": {"en": "exact version match", "ja": "バージョン一致"},
    "range": {"en": "version inside the affected range", "ja": "影響を受けるバージョン範囲内"},
    "product": {"en": "product only: version not verified", "ja": "製品名のみ一致（バージョン未確認）"},
}


def stix_time(text: str, default: str = "1970-01-01T00:00:00.000Z") -> str:
    """Any ISO 8601 time a source writes (NVD has no zone: UTC; JVN +09:00; KEV a date) in STIX form."""
    if not text:
        return default
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@lru_cache(maxsize=4096)
def epoch_time(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def vulnerability_id(name: str) -> str:
    return object_id("vulnerability", name)


@lru_cache(maxsize=65536)
def software_object(software: Software) -> dict[str, Any]:
    """The SCO with the id STIX derives from its name, cpe, vendor and version (so every tool agrees).
    Cached: callers must not change the dict."""
    body: dict[str, Any] = {"name": software.product, "cpe": software.cpe23(), "vendor": software.vendor}
    if not software.wildcard_version:
        body["version"] = software.version
    contributing = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    return {"type": "software", "spec_version": "2.1",
            "id": f"software--{uuid.uuid5(_SCO_NAMESPACE, contributing)}", **body,
            "object_marking_refs": [TLP.AMBER_STRICT.marking_id]}


def _references(view: View) -> list[dict[str, str]]:
    refs = []
    if view.id.startswith("CVE-"):
        refs.append({"source_name": "cve", "external_id": view.id, "url": f"https://nvd.nist.gov/vuln/detail/{view.id}"})
    for jvndb in view.jvndb:
        year = jvndb.split("-")[1]
        refs.append({"source_name": "jvndb", "external_id": jvndb,
                     "url": f"https://jvndb.jvn.jp/ja/contents/{year}/{jvndb}.html"})
    for advisory in view.advisories:
        if advisory.source == "csaf":
            refs.append({"source_name": "csaf", "external_id": advisory.id})
    if view.kev is not None:
        refs.append({"source_name": "cisa-kev", "external_id": view.id,
                     "url": "https://www.cisa.gov/known-exploited-vulnerabilities-catalog"})
    return refs


def render(decision: Decision, view: View, hub_identity: str, now_ms: int,
           shared: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The notice for `decision` (a revocation is the relationship alone, revoked). `shared`: the
    vulnerability's objects from `vulnerability_objects`, made once for every member it concerns."""
    now = epoch_time(now_ms)
    software = software_object(decision.asset.software)
    match_key = f"vuln-match|{decision.asset.org}|{decision.asset.id}|{decision.vulnerability}"
    relationship = {
        "type": "relationship", "spec_version": "2.1",
        "id": object_id("relationship", match_key),
        "created": stix_time(view.published, now), "modified": now, "created_by_ref": hub_identity,
        "relationship_type": "has", "source_ref": software["id"], "target_ref": vulnerability_id(view.id),
        "description": f"{BASIS_TEXT[decision.basis]['en']} / {BASIS_TEXT[decision.basis]['ja']}",
        "object_marking_refs": [TLP.AMBER_STRICT.marking_id],
        "extensions": {EXTENSION_ID: {"extension_type": "property-extension", "basis": decision.basis,
                                      "kev": decision.kev, "asset": decision.asset.id,
                                      **({"affected": _entry_text(decision)} if decision.entry else {})}},
    }
    if decision.action == "revoke":
        return [{**relationship, "revoked": True}]
    return [*(shared if shared is not None else vulnerability_objects(view, hub_identity, now)), software, relationship]


def _entry_text(decision: Decision) -> str:
    """The advisory's statement the asset matched, for the member to check."""
    entry = decision.entry
    assert entry is not None
    if entry.text:
        return entry.text
    if entry.has_range:
        low = f"{entry.start} {'<=' if entry.start_incl else '<'} " if entry.start else ""
        high = f" {'<=' if entry.end_incl else '<'} {entry.end}" if entry.end else ""
        return f"{low}version{high}"
    return entry.version + (f" {entry.update}" if entry.update not in WILDCARDS else "")


def vulnerability_objects(view: View, hub_identity: str, now: str) -> list[dict[str, Any]]:
    """The vulnerability, in English where NVD (or CSAF, KEV) has text, with its translation beside it."""
    english = {"name": view.text("title", "en"), "description": view.text("description", "en")}
    japanese = {"name": view.text("title", "ja"), "description": view.text("description", "ja")}
    lang, main, other, other_lang = ("en", english, japanese, "ja") if english["description"] else \
        ("ja", japanese, english, "en")
    vuln_id = vulnerability_id(view.id)
    extension: dict[str, Any] = {"extension_type": "property-extension", "kev": view.kev is not None}
    if view.cvss:
        extension["cvss"] = view.cvss
    if view.kev:
        extension |= {"kev_date_added": view.kev.get("date_added", ""), "kev_due_date": view.kev.get("due_date", ""),
                      "kev_required_action": view.kev.get("required_action", "")}
    vulnerability = {
        "type": "vulnerability", "spec_version": "2.1", "id": vuln_id,
        "created": stix_time(view.published, now), "modified": now, "created_by_ref": hub_identity,
        "name": view.id, "lang": lang,
        "external_references": _references(view),
        "object_marking_refs": [TLP.CLEAR.marking_id],
        "extensions": {EXTENSION_ID: extension},
    }
    if main["description"]:
        vulnerability["description"] = (f"{main['name']}: " if main["name"] else "") + main["description"]
    objects = [vulnerability]
    if other["description"] or other["name"]:
        contents = {k: v for k, v in other.items() if v}
        objects.append({
            "type": "language-content", "spec_version": "2.1",
            "id": object_id("language-content", f"{view.id}|{other_lang}"),
            "created": stix_time(view.published, now), "modified": now, "created_by_ref": hub_identity,
            "object_ref": vuln_id, "object_modified": now, "contents": {other_lang: contents},
            "object_marking_refs": [TLP.CLEAR.marking_id],
        })
    return objects


# --- reading notices back (the member's side: CLI, SIEM export) -------------------------------

def notices(objects: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Current notices among an inbox's objects (latest version of each, by id): one flat record each."""
    out = []
    translations: dict[str, dict[str, dict[str, str]]] = {}
    for obj in objects.values():
        if obj.get("type") == "language-content":
            translations.setdefault(obj.get("object_ref", ""), {}).update(obj.get("contents", {}))
    for obj in objects.values():
        extension = obj.get("extensions", {}).get(EXTENSION_ID)
        if obj.get("type") != "relationship" or extension is None or obj.get("revoked"):
            continue
        vulnerability, software = objects.get(obj["target_ref"]), objects.get(obj["source_ref"])
        if vulnerability is None or software is None:
            continue
        details = vulnerability.get("extensions", {}).get(EXTENSION_ID, {})
        text = {vulnerability.get("lang", "en"): vulnerability.get("description", "")}
        for lang, fields in translations.get(vulnerability["id"], {}).items():
            text[lang] = (f"{fields['name']}: " if fields.get("name") else "") + fields.get("description", "")
        refs = vulnerability.get("external_references", [])
        out.append({
            "vulnerability": vulnerability["name"], "basis": extension["basis"], "kev": details.get("kev", False),
            "kev_due_date": details.get("kev_due_date", ""), "cvss": details.get("cvss"),
            "text": text, "published": vulnerability["created"], "noticed": obj["modified"],
            "jvndb": [r["external_id"] for r in refs if r.get("source_name") == "jvndb"],
            "references": [r["url"] for r in refs if r.get("url")],
            "software": {k: software[k] for k in ("vendor", "name", "version", "cpe") if k in software},
            "affected": extension.get("affected", ""),
        })
    return sort_notices(out)


def sort_notices(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first (by the day noticed), and within a day the most severe first, KEV before the rest."""
    return sorted(items, key=lambda n: (n["noticed"][:10], n["kev"], (n["cvss"] or {}).get("score", 0.0),
                                        n["vulnerability"]), reverse=True)


def text_in(notice: dict[str, Any], lang: str | None) -> tuple[str, str]:
    """(language, text) to show: the one asked for when there is one, else Japanese when JVN has it."""
    text = notice["text"]
    for choice in ([lang] if lang else []) + ["ja", "en"]:
        if text.get(choice):
            return choice, text[choice]
    return "en", ""


def ecs(notice: dict[str, Any], lang: str | None = None) -> dict[str, Any]:
    """A notice as an Elastic Common Schema document (`vulnerability.*`, `package.*`)."""
    language, text = text_in(notice, lang)
    cvss = notice["cvss"] or {}
    vulnerability: dict[str, Any] = {
        "id": notice["vulnerability"], "description": text, "category": ["kizuna asset match"],
        "classification": "CVSS", "enumeration": "CVE" if notice["vulnerability"].startswith("CVE-") else "JVNDB",
        "reference": notice["references"][0] if notice["references"] else "",
        "scanner": {"vendor": "kizuna"},
    }
    if cvss:
        vulnerability["score"] = {"base": cvss.get("score"), "version": str(cvss.get("version", ""))}
        vulnerability["severity"] = str(cvss.get("severity", "")).capitalize()
    software = notice["software"]
    due = {"kizuna_kev_due": notice["kev_due_date"]} if notice["kev_due_date"] else {}
    return {
        "@timestamp": notice["noticed"], "event": {"kind": "alert", "category": ["vulnerability"], "type": ["info"]},
        "vulnerability": vulnerability,
        "package": {k: v for k, v in {"name": software.get("name"), "version": software.get("version")}.items() if v},
        "labels": {"kizuna_basis": notice["basis"], "kizuna_kev": str(notice["kev"]).lower(),
                   "kizuna_lang": language, **due},
    }
