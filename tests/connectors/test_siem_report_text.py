"""Report text in (`kizuna submit report.txt --format text`): indicators found in prose, defanged
or not; addresses nobody else can reach or that are nobody's in particular (private, loopback,
link-local, multicast, documentation ranges), and URLs on them, dropped each with a reason."""
from __future__ import annotations

from pathlib import Path

from streams.core.formats import Limits, parse_submission
from streams.core.items import Reason

REPORT = Path(__file__).parent / "fixtures" / "siem_report.txt"


def test_report_indicators_and_a_reason_for_every_dropped_value():
    parsed = parse_submission(REPORT.read_bytes(), "text", REPORT.name, Limits(1 << 20, 1000, 32))
    assert parsed.format == "text"
    assert {(item.observable, item.value) for item in parsed.items} == {
        ("url", "https://update-check.lantern-c2.example/gate.php?id=7"),
        ("ipv4-addr", "45.77.65.211"),
        ("domain-name", "cdn-lantern.example"),  # the hosts of the URL and the mailbox are not repeated as domains
        ("file-md5", "44d88612fea8a8f36de82e1278abb02f"),
        ("file-sha256", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
        ("ipv6-addr", "2001:4860:4860::8888"),
        ("email-addr", "lantern-ops@lantern-c2.example"),
    }
    dropped = {problem.reason for problem in parsed.problems}
    assert {problem.code for problem in parsed.problems} == {Reason.INVALID_VALUE}
    assert dropped == {
        "http://203.0.113.50/payload.bin is on a private or reserved address, not an indicator",
        "203.0.113.50 is a private or reserved address, not an indicator",
        "10.20.30.40 is a private or reserved address, not an indicator",
        "192.168.1.15 is a private or reserved address, not an indicator",
        "fd12:3456:789a::15 is a private or reserved address, not an indicator",
        "239.255.255.250 is a multicast address, not an indicator",
        "169.254.10.10 is a link-local address, not an indicator",
    }
    assert all(problem.where.startswith("text '") for problem in parsed.problems)  # where in the text it was
