"""Asset lists as members keep them: CSV, CycloneDX JSON and SPDX JSON SBOMs -> software names.

Pure and careful: each row or component either gives a Software or a problem with its line or
index (never its value, which may name what the member runs); the good ones are kept.
"""
from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from streams.core.vuln_model import BadSoftware, Software, parse_software

Problems = list[tuple[str, str]]  # (where, why)


def from_csv(text: str) -> tuple[list[Software], Problems]:
    """Columns: `cpe` or `purl`, or `vendor`, `product` and optional `version` (header row required)."""
    found, problems = [], []
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not ({"cpe", "purl"} & columns or {"vendor", "product"} <= columns):
        return [], [("header", "needs a cpe or purl column, or vendor and product columns")]
    for number, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            name = row.get("cpe") or row.get("purl") or ""
            found.append(parse_software(name) if name else parse_software(
                vendor=row.get("vendor", ""), product=row.get("product", ""), version=row.get("version", "")))
        except BadSoftware as exc:
            problems.append((f"line {number}", str(exc)))
    return found, problems


def _component(item: dict[str, Any], where: str, found: list[Software], problems: Problems) -> None:
    for key in ("cpe", "purl"):
        if item.get(key):
            try:
                found.append(parse_software(str(item[key])))
                return
            except BadSoftware as exc:
                problems.append((where, str(exc)))
                return
    problems.append((where, "no cpe or purl: name the component with one to match it"))


def from_cyclonedx(doc: dict[str, Any]) -> tuple[list[Software], Problems]:
    found: list[Software] = []
    problems: Problems = []

    def walk(components: list[dict[str, Any]], path: str) -> None:
        for index, item in enumerate(components):
            _component(item, f"{path}[{index}]", found, problems)
            walk(item.get("components", []), f"{path}[{index}].components")

    walk(doc.get("components", []), "components")
    return found, problems


def from_spdx(doc: dict[str, Any]) -> tuple[list[Software], Problems]:
    found: list[Software] = []
    problems: Problems = []
    for index, package in enumerate(doc.get("packages", [])):
        refs = {ref.get("referenceType"): ref.get("referenceLocator") for ref in package.get("externalRefs", [])}
        name = refs.get("cpe23Type") or refs.get("cpe22Type") or refs.get("purl")
        _component({"cpe": name} if name else {}, f"packages[{index}]", found, problems)
    return found, problems


def parse(data: bytes) -> tuple[list[Software], Problems, str]:
    """Any supported asset list; returns (software, problems, format)."""
    text = data.decode("utf-8-sig")
    if text.lstrip().startswith("{"):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [], [("document", f"not JSON: {exc}")], "json"
        if doc.get("bomFormat") == "CycloneDX":
            return (*from_cyclonedx(doc), "cyclonedx")
        if str(doc.get("spdxVersion", "")).startswith("SPDX-"):
            return (*from_spdx(doc), "spdx")
        return [], [("document", "JSON but neither a CycloneDX nor an SPDX SBOM")], "json"
    return (*from_csv(text), "csv")
