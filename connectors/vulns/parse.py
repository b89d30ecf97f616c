"""Each source's real format -> kizuna advisories (streams.core.vuln_model.Advisory).

XML (MyJVN, JVNDB RSS) is read with defusedxml: no entities, no external references.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXML

from streams.core.vuln_model import Advisory, Affected, BadSoftware, norm, parse_cpe, parse_purl

NS = {"vuldef": "http://jvn.jp/vuldef/", "sec": "http://jvn.jp/rss/mod_sec/3.0/",
      "rss": "http://purl.org/rss/1.0/", "dcterms": "http://purl.org/dc/terms/",
      "status": "http://jvndb.jvn.jp/myjvn/Status", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
_TAGS = re.compile(r"<[^>]+>")


def _plain(text: str | None) -> str:
    """JVN's text carries escaped HTML lists: keep the words, one space between items."""
    return re.sub(r"\s+", " ", _TAGS.sub(" ", html.unescape(text or ""))).strip()


# --- CISA KEV -------------------------------------------------------------------------------

def kev(doc: dict[str, Any]) -> list[Advisory]:
    """The KEV catalogue: one record per CVE, carrying the KEV flag only (products come from NVD/JVN)."""
    out = []
    for entry in doc.get("vulnerabilities", []):
        cve = str(entry.get("cveID", "")).strip()
        if not cve.startswith("CVE-"):
            continue
        out.append(Advisory(
            "kev", cve, cves=[cve], title={"en": str(entry.get("vulnerabilityName", ""))},
            description={"en": str(entry.get("shortDescription", ""))}, published=str(entry.get("dateAdded", "")),
            modified=str(entry.get("dateAdded", "")),
            kev={"date_added": str(entry.get("dateAdded", "")), "due_date": str(entry.get("dueDate", "")),
                 "required_action": str(entry.get("requiredAction", "")),
                 "ransomware": str(entry.get("knownRansomwareCampaignUse", ""))}))
    return out


# --- NVD CVE API 2.0 ------------------------------------------------------------------------

_CVSS_ORDER = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")


def _nvd_cvss(metrics: dict[str, Any]) -> dict[str, Any] | None:
    for name in _CVSS_ORDER:
        found = sorted(metrics.get(name, []), key=lambda m: m.get("type") != "Primary")
        if found:
            data = found[0]["cvssData"]
            return {"version": data.get("version", ""), "score": float(data.get("baseScore", 0.0)),
                    "vector": data.get("vectorString", ""),
                    "severity": data.get("baseSeverity") or found[0].get("baseSeverity", "")}
    return None


def _nvd_affected(configurations: list[dict[str, Any]]) -> Iterator[Affected]:
    """Every vulnerable cpeMatch; `vulnerable: false` entries are platforms (the hardware a firmware
    runs on), never the vulnerable thing, and negated nodes name what is not affected."""
    for configuration in configurations:
        for node in configuration.get("nodes", []):
            if node.get("negate"):
                continue
            for match in node.get("cpeMatch", []):
                if not match.get("vulnerable"):
                    continue
                try:
                    cpe = parse_cpe(match["criteria"])
                except (BadSoftware, KeyError):
                    continue
                start = match.get("versionStartIncluding") or match.get("versionStartExcluding") or ""
                end = match.get("versionEndIncluding") or match.get("versionEndExcluding") or ""
                yield Affected(cpe.vendor, cpe.product, cpe.version if not (start or end) else "*", cpe.update, start,
                               "versionStartExcluding" not in match, end, "versionEndIncluding" in match, "", cpe.part)


def nvd(page: dict[str, Any]) -> list[Advisory]:
    out = []
    for item in page.get("vulnerabilities", []):
        cve = item.get("cve", {})
        cve_id = cve.get("id", "")
        if not cve_id.startswith("CVE-"):
            continue
        english = next((d["value"] for d in cve.get("descriptions", []) if d.get("lang") == "en"), "")
        kev_info = None
        if cve.get("cisaExploitAdd"):
            kev_info = {"date_added": cve["cisaExploitAdd"], "due_date": cve.get("cisaActionDue", ""),
                        "required_action": cve.get("cisaRequiredAction", ""), "ransomware": ""}
        out.append(Advisory(
            "nvd", cve_id, cves=[cve_id], title={"en": cve.get("cisaVulnerabilityName", "")},
            description={"en": english}, cvss=_nvd_cvss(cve.get("metrics", {})), published=cve.get("published", ""),
            modified=cve.get("lastModified", ""), affected=list(_nvd_affected(cve.get("configurations", []))),
            kev=kev_info, references=[r["url"] for r in cve.get("references", []) if "url" in r][:20],
            withdrawn=cve.get("vulnStatus") == "Rejected"))
    return out


# --- MyJVN (VULDEF 3.2, RSS 1.0 with mod_sec 3.0) --------------------------------------------

def _text(node: Element | None, path: str) -> str:
    found = node.find(path, NS) if node is not None else None
    return (found.text or "").strip() if found is not None else ""


def _jvn_cvss(nodes: list[Element]) -> dict[str, Any] | None:
    """The newest CVSS version JVN gives (3.x before 2.0)."""
    best: dict[str, Any] | None = None
    for node in nodes:
        version = node.get("version", "")
        score = node.findtext("vuldef:Base", default="", namespaces=NS) or node.get("score", "")
        vector = node.findtext("vuldef:Vector", default="", namespaces=NS) or node.get("vector", "")
        severity = node.findtext("vuldef:Severity", default="", namespaces=NS) or node.get("severity", "")
        if score and (best is None or version > str(best["version"])):
            best = {"version": version, "score": float(score), "vector": vector, "severity": severity}
    return best


def jvn_detail(body: bytes) -> list[Advisory]:
    """getVulnDetailInfo (VULDEF 3.2): Japanese title and overview, CPE 2.2 names with free-text versions."""
    root = SafeXML.fromstring(body)
    lang = root.get("{http://www.w3.org/XML/1998/namespace}lang", "ja")
    out = []
    for info in root.findall("vuldef:Vulinfo", NS):
        data = info.find("vuldef:VulinfoData", NS)
        affected = []
        for item in info.findall("vuldef:VulinfoData/vuldef:Affected/vuldef:AffectedItem", NS):
            versions = [v.text.strip() for v in item.findall("vuldef:VersionNumber", NS) if v.text and v.text.strip()]
            for cpe_node in item.findall("vuldef:Cpe", NS):
                try:
                    cpe = parse_cpe(cpe_node.text or "")
                except BadSoftware:
                    continue
                affected.append(Affected(cpe.vendor, cpe.product, "*", "*", text="; ".join(versions), part=cpe.part))
        cves = sorted({_text(r, "vuldef:VulinfoID") for r in info.findall("vuldef:VulinfoData/vuldef:Related/"
                                                                          "vuldef:RelatedItem", NS)
                       if r.get("type") == "advisory" and _text(r, "vuldef:VulinfoID").startswith("CVE-")})
        vulinfo_id = _text(info, "vuldef:VulinfoID")
        out.append(Advisory(
            "jvn", vulinfo_id, cves=cves, jvndb=[vulinfo_id], title={lang: _text(data, "vuldef:Title")},
            description={lang: _plain(_text(data, "vuldef:VulinfoDescription/vuldef:Overview"))},
            cvss=_jvn_cvss(info.findall("vuldef:VulinfoData/vuldef:Impact/vuldef:Cvss", NS)),
            published=_text(data, "vuldef:DateFirstPublished") or _text(data, "vuldef:DatePublic"),
            modified=_text(data, "vuldef:DateLastUpdated"), affected=affected,
            references=[u for u in (_text(r, "vuldef:URL") for r in info.findall(
                "vuldef:VulinfoData/vuldef:Related/vuldef:RelatedItem", NS)) if u][:20]))
    return out


def jvn_list(body: bytes) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """getVulnOverviewList or a JVNDB RSS feed: [(JVNDB id, modified)] and the MyJVN status attributes
    (totalRes, firstRes ... for paging; empty for the RSS feeds)."""
    root = SafeXML.fromstring(body)
    items = []
    for item in root.findall("rss:item", NS):
        jvndb = _text(item, "sec:identifier")
        if jvndb.startswith("JVNDB-"):
            items.append((jvndb, _text(item, "dcterms:modified")))
    status = root.find("status:Status", NS)
    if status is not None and status.get("retCd", "0") != "0":
        raise ValueError(f"MyJVN error {status.get('errCd', '')}: {status.get('errMsg', '')}")
    return items, dict(status.attrib) if status is not None else {}


# --- CSAF 2.0 -------------------------------------------------------------------------------

def _vers(text: str) -> tuple[str, bool, str, bool] | None:
    """A single interval of a `vers:` range (>=a|<b); None for anything else (then product only)."""
    if not text.startswith("vers:") or "/" not in text:
        return None
    start, start_incl, end, end_incl = "", True, "", False
    for constraint in text.split("/", 1)[1].split("|"):
        constraint = constraint.strip()
        for operator in (">=", "<=", ">", "<"):
            if constraint.startswith(operator):
                value = constraint[len(operator):].strip()
                if operator[0] == ">" and not start:
                    start, start_incl = value, operator == ">="
                elif operator[0] == "<" and not end:
                    end, end_incl = value, operator == "<="
                else:
                    return None
                break
        else:
            return None
    return (start, start_incl, end, end_incl) if start or end else None


def _csaf_products(tree: dict[str, Any]) -> dict[str, Affected]:
    """product_id -> what it names, from the branches (vendor > product_name > version or range)."""
    out: dict[str, Affected] = {}

    def walk(branches: list[dict[str, Any]], vendor: str, product: str) -> None:
        for branch in branches:
            category, name = branch.get("category"), str(branch.get("name", ""))
            here_vendor = name if category == "vendor" else vendor
            here_product = name if category == "product_name" else product
            if "product" in branch:
                entry = _csaf_entry(branch["product"], here_vendor, here_product, category or "", name)
                if entry is not None:
                    out[branch["product"]["product_id"]] = entry
            walk(branch.get("branches", []), here_vendor, here_product)

    walk(tree.get("branches", []), "", "")
    return out


def _csaf_entry(product: dict[str, Any], vendor: str, name: str, category: str, value: str) -> Affected | None:
    helper = product.get("product_identification_helper", {})
    try:
        named = (parse_purl(helper["purl"]) if "purl" in helper
                 else parse_cpe(helper["cpe"]) if "cpe" in helper else None)
    except BadSoftware:
        named = None

    vendor_key, product_key = (named.vendor, named.product) if named else (norm(vendor), norm(name))
    if not vendor_key or not product_key:
        return None
    ecosystem = named.ecosystem if named else ""
    if category == "product_version_range":
        interval = _vers(value)
        if interval is None:
            return Affected(vendor_key, product_key, text=value, ecosystem=ecosystem)
        start, start_incl, end, end_incl = interval
        return Affected(vendor_key, product_key, "*", "*", start, start_incl, end, end_incl, ecosystem=ecosystem)
    if category == "product_version":
        return Affected(vendor_key, product_key, value.lower(), ecosystem=ecosystem)
    if named and not named.wildcard_version:
        return Affected(named.vendor, named.product, named.version, named.update, ecosystem=ecosystem)
    return None


def csaf(doc: dict[str, Any]) -> list[Advisory]:
    """A CSAF 2.0 advisory: one record per vulnerability it lists, affected = known_affected,
    first_affected and last_affected products of that vulnerability."""
    document = doc.get("document", {})
    tracking = document.get("tracking", {})
    lang = str(document.get("lang", "en")).split("-")[0] or "en"
    products = _csaf_products(doc.get("product_tree", {}))
    out = []
    for number, vulnerability in enumerate(doc.get("vulnerabilities", [])):
        status = vulnerability.get("product_status", {})
        ids = [*status.get("known_affected", []), *status.get("first_affected", []), *status.get("last_affected", [])]
        affected = [products[i] for i in ids if i in products]
        description = next((n.get("text", "") for n in vulnerability.get("notes", [])
                            if n.get("category") == "description"), "")
        score = next((s.get("cvss_v3") for s in vulnerability.get("scores", []) if s.get("cvss_v3")), None)
        cve = vulnerability.get("cve", "")
        cvss = {"version": score.get("version", ""), "score": float(score.get("baseScore", 0.0)),
                "vector": score.get("vectorString", ""), "severity": score.get("baseSeverity", "")} if score else None
        out.append(Advisory(
            "csaf", f"{tracking.get('id', 'csaf')}#{cve or number}", cves=[cve] if cve else [],
            title={lang: str(vulnerability.get("title") or document.get("title", ""))}, description={lang: description},
            cvss=cvss, published=str(tracking.get("initial_release_date", "")),
            modified=str(tracking.get("current_release_date", "")), affected=affected))
    return out
