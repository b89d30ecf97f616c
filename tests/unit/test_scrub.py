import pytest

from streams.core.scrub import REDACTED, scrub, scrub_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail soc@acme.example now", f"mail {REDACTED} now"),
        ("defanged soc[@]acme[.]example", f"defanged {REDACTED}"),
        ("call +81 3-1234-5678 today", f"call {REDACTED} today"),
        ("call (03) 1234 5678", f"call {REDACTED}"),
        ("exploits CVE-2024-12345 and T1566.001", "exploits CVE-2024-12345 and T1566.001"),
        ("version 10.0.19041", "version 10.0.19041"),
        ("port 443 and 8080", "port 443 and 8080"),
    ],
)
def test_scrub_text(text, expected):
    assert scrub_text(text) == expected


def test_scrub_keeps_identifiers_and_refs():
    body = {"name": "Loader", "description": "by a@b.example", "object_refs": ["a@b.example"],
            "external_references": [{"source_name": "cve", "external_id": "CVE-2024-12345", "url": "https://x/a@b"}]}
    assert scrub(body) == {"name": "Loader", "description": f"by {REDACTED}", "object_refs": ["a@b.example"],
                           "external_references": [{"source_name": "cve", "external_id": "CVE-2024-12345",
                                                    "url": "https://x/a@b"}]}
