import pytest

from streams.core.canonical import InvalidValue, canonicalize, classify, indicator_id, pattern_for, refang


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("domain-name", "Evil.EXAMPLE.", ("domain-name", "evil.example")),
        ("domain-name", "evil[.]example", ("domain-name", "evil.example")),
        ("domain-name", "Bücher.de", ("domain-name", "xn--bcher-kva.de")),
        ("domain-name", "_dmarc.example.com", ("domain-name", "_dmarc.example.com")),
        ("ipv4-addr", "45.77.65.211/32", ("ipv4-addr", "45.77.65.211")),
        ("ipv4-addr", "45.77.65.0/24", ("ipv4-addr", "45.77.65.0/24")),
        ("ipv4-addr", "45.77.65.7/24", ("ipv4-addr", "45.77.65.0/24")),
        ("ipv4-addr", "2001:0DB8:0000:0000::0001", ("ipv6-addr", "2001:db8::1")),
        ("ipv6-addr", "2001:db8::1/128", ("ipv6-addr", "2001:db8::1")),
        ("url", "hxxps://Evil[.]Example:443/Path?q=1#frag", ("url", "https://evil.example/Path?q=1")),
        ("url", "HTTP://evil.example", ("url", "http://evil.example/")),
        ("url", "http://[2001:DB8::1]:8080/x", ("url", "http://[2001:db8::1]:8080/x")),
        ("email-addr", "Phish[@]Evil[.]Example", ("email-addr", "phish@evil.example")),
        ("file-md5", "D41D8CD98F00B204E9800998ECF8427E", ("file-md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ],
)
def test_canonical_values(kind, raw, expected):
    assert canonicalize(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("domain-name", "intranet.local", "public top-level domain"),
        ("domain-name", "co.jp", "public suffix"),
        ("domain-name", "nodot", "two labels"),
        ("domain-name", "-bad-.example", "not a valid domain"),
        ("ipv4-addr", "999.1.1.1", "not an IP"),
        ("ipv4-addr", "0.0.0.0/0", "whole address space"),
        ("url", "javascript:alert(1)", "network scheme"),
        ("url", "http://", "no host"),
        ("file-sha256", "abc", "64 hex digits"),
        ("file-sha256", "g" * 64, "64 hex digits"),
        ("email-addr", "not-an-email", "not an e-mail"),
        ("mutex", "x", "unknown indicator type"),
        ("domain-name", "   ", "empty"),
    ],
)
def test_invalid_values_say_why(kind, raw, message):
    with pytest.raises(InvalidValue, match=message):
        canonicalize(kind, raw)


def test_same_indicator_written_differently_has_one_id():
    forms = ["hxxp://evil[.]example/a", "HTTP://EVIL.example:80/a", "http://evil.example/a#top"]
    ids = {indicator_id(*canonicalize("url", form)) for form in forms}
    assert len(ids) == 1


def test_ids_differ_by_kind_and_value():
    assert indicator_id("domain-name", "evil.example") != indicator_id("url", "evil.example")
    assert indicator_id("domain-name", "evil.example") != indicator_id("domain-name", "evil2.example")


def test_pattern_escapes_quotes():
    assert pattern_for("url", "http://x.example/it's") == "[url:value = 'http://x.example/it\\'s']"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("1.2.3[.]4", "ipv4-addr"), ("hxxp://x.example", "url"), ("a@b.example", "email-addr"),
     ("a" * 40, "file-sha1"), ("evil[.]example", "domain-name"), ("hello world", None)],
)
def test_classify(raw, kind):
    assert classify(raw) == kind


def test_refang():
    assert refang("hxxps[:]//a(.)b[dot]example") == "https://a.b.example"
