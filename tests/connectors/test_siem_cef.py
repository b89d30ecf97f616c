"""CEF output parsed back by a CEF parser (pycef), in RFC 5424 messages parsed back by a syslog
parser (syslog-rfc5424-parser), delivered to real TCP and UDP sockets on the loopback."""
from __future__ import annotations

import re
import socket
import ssl
import threading

import pycef
import pytest
from syslog_rfc5424_parser import SyslogMessage

from connectors.siem import cef
from connectors.siem.settings import syslog_address
from streams import pki
from streams.tlp import TLP
from tests.connectors.fixtures.siem_records import NOW, indicator


def unescape(value: str) -> str:
    """pycef returns extension values as written; undo CEF's escaping to compare with the source."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), value)


def parsed(line: str) -> dict[str, str]:
    fields = pycef.parse(line)
    assert fields is not None, line
    return {key: unescape(value) for key, value in fields.items()}


def test_header_and_extension_fields():
    shown = indicator("ipv4-addr", "45.77.65.211", confidence=73, tlp=TLP.AMBER, sightings=4)
    fields = parsed(cef.line(shown, NOW))
    assert {k: fields[k] for k in ("CEFVersion", "DeviceVendor", "DeviceProduct", "DeviceVersion", "DeviceEventClassID",
                                   "Name", "Severity")} == {
        "CEFVersion": "0", "DeviceVendor": "kizuna", "DeviceProduct": "kizuna", "DeviceVersion": cef.PRODUCT_VERSION,
        "DeviceEventClassID": "indicator-confirmed", "Name": "ipv4-addr indicator confirmed", "Severity": "7"}
    assert {k: fields[k] for k in ("dst", "stixId", "indicatorType", "indicator", "tlp", "status", "confidence",
                                   "sightings", "pattern", "rt", "start")} == {
        "dst": "45.77.65.211", "stixId": shown.id, "indicatorType": "ipv4-addr", "indicator": "45.77.65.211",
        "tlp": "AMBER", "status": "confirmed", "confidence": "73", "sightings": "4",
        "pattern": "[ipv4-addr:value = '45.77.65.211']", "rt": "1795000001000", "start": "1795000000000"}
    assert "end" not in fields


@pytest.mark.parametrize(("kind", "value", "key"), [
    ("ipv6-addr", "2001:4860::8888", "ipv6Indicator"), ("domain-name", "evil.example", "dhost"),
    ("url", "http://evil.example/a?x=1&y=a\\b", "request"), ("email-addr", "bad@evil.example", "duser"),
    ("file-sha256", "e3b0" * 16, "fileHash")])
def test_each_kind_in_its_cef_field_escaped_and_back(kind, value, key):
    fields = parsed(cef.line(indicator(kind, value), NOW))
    assert fields[key] == fields["indicator"] == value
    assert fields["pattern"] == indicator(kind, value).pattern  # '=', quotes and backslashes survive


def test_ranges_and_complex_patterns_carry_no_typed_field():
    fields = parsed(cef.line(indicator("ipv4-addr", "45.77.0.0/16"), NOW))
    assert "dst" not in fields and fields["indicator"] == "45.77.0.0/16"
    pattern = "[ipv4-addr:value = '45.77.65.211'] AND [domain-name:value = 'evil.example']"
    fields = parsed(cef.line(indicator(None, None, pattern=pattern), NOW))
    assert fields["indicatorType"] == "stix-pattern" and fields["pattern"] == pattern and "indicator" not in fields


def test_revoked_and_expired_say_so_with_severity_zero():
    revoked = parsed(cef.line(indicator("domain-name", "evil.example", status="revoked"), NOW))
    assert (revoked["DeviceEventClassID"], revoked["status"], revoked["Severity"]) == ("indicator-revoked", "revoked",
                                                                                       "0")
    expired = parsed(cef.line(indicator("domain-name", "evil.example", valid_until=1_795_050_000_000), NOW))
    assert (expired["DeviceEventClassID"], expired["Severity"], expired["end"]) == ("indicator-expired", "0",
                                                                                    "1795050000000")


def test_newlines_cannot_forge_a_second_event():
    assert cef.escape("a\nCEF:0|x|y|1|z|n|10|dst=1.2.3.4") == "a\\nCEF:0|x|y|1|z|n|10|dst\\=1.2.3.4"
    assert cef.escape("back\\slash=equals\r") == "back\\\\slash\\=equals\\r"


def test_rfc5424_message():
    shown = indicator("domain-name", "evil.example")
    message = SyslogMessage.parse(cef.rfc5424(cef.line(shown, NOW), shown.modified, "siem-gw", 16).decode())
    assert message.as_dict() | {"msg": None} == {
        "severity": "notice", "facility": "local0", "version": 1, "timestamp": "2026-11-18T11:06:41.000Z",
        "hostname": "siem-gw", "appname": "kizuna", "procid": None, "msgid": "indicator", "sd": {}, "msg": None}
    assert parsed(message.msg)["dhost"] == "evil.example"


def _tcp_receiver(expected: int, wrap=None) -> tuple[int, list[bytes], threading.Thread]:
    """A syslog receiver that reads octet-counted frames (RFC 6587; inside TLS with `wrap`, RFC 5425)
    until it has `expected` messages."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve():
        connection, _ = server.accept()
        if wrap is not None:
            try:
                connection = wrap(connection)
            except ssl.SSLError:  # the sender gave up on our certificate
                server.close()
                return
        with connection, server:
            buffer = b""
            while len(received) < expected:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while b" " in buffer:
                    length, _, rest = buffer.partition(b" ")
                    if len(rest) < int(length):
                        break
                    received.append(rest[:int(length)])
                    buffer = rest[int(length):]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], received, thread


def test_syslog_over_tcp_is_octet_counted():
    values = ["evil.example", "second.example", "third.example"]
    port, received, thread = _tcp_receiver(len(values))
    sender = cef.SyslogSender(f"tcp://127.0.0.1:{port}", timeout_s=5)
    shown = [indicator("domain-name", v) for v in values]
    sender.send([cef.rfc5424(cef.line(i, NOW), i.modified, "gw", 16) for i in shown[:2]])
    sender.send([cef.rfc5424(cef.line(shown[2], NOW), shown[2].modified, "gw", 16)])
    thread.join(5)
    sender.close()
    assert [parsed(SyslogMessage.parse(m.decode()).msg)["dhost"] for m in received] == values


def test_syslog_over_tls_checks_the_receivers_certificate(tmp_path):
    """RFC 5425: octet-counted messages inside TLS; a sender that does not trust the receiver's CA
    sends nothing and says why."""
    chain, key = pki.server_certificate(tmp_path, tmp_path, "receiver", ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain, key)
    port, received, thread = _tcp_receiver(1, wrap=lambda conn: context.wrap_socket(conn, server_side=True))
    sender = cef.SyslogSender(f"tls://127.0.0.1:{port}", timeout_s=5, ca_file=tmp_path / "ca.crt")
    shown = indicator("domain-name", "tls.example")
    sender.send([cef.rfc5424(cef.line(shown, NOW), shown.modified, "gw", 16)])
    thread.join(5)
    sender.close()
    assert [parsed(SyslogMessage.parse(m.decode()).msg)["dhost"] for m in received] == ["tls.example"]

    port, _, thread = _tcp_receiver(1, wrap=lambda conn: context.wrap_socket(conn, server_side=True))
    other = tmp_path / "other"
    pki.ensure_ca(other)  # a CA of its own, which signed nothing the receiver shows
    untrusting = cef.SyslogSender(f"tls://127.0.0.1:{port}", timeout_s=5, ca_file=pki.ca_paths(other)[0])
    with pytest.raises(cef.SyslogFailed, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.send([b"x"])


def test_syslog_over_udp_one_message_per_datagram():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        sender = cef.SyslogSender(f"udp://127.0.0.1:{receiver.getsockname()[1]}", timeout_s=5)
        shown = [indicator("ipv4-addr", "45.77.65.211"), indicator("ipv4-addr", "45.77.65.212")]
        sender.send([cef.rfc5424(cef.line(i, NOW), i.modified, "gw", 16) for i in shown])
        datagrams = [receiver.recv(65535) for _ in shown]
        sender.close()
    assert [parsed(SyslogMessage.parse(d.decode()).msg)["dst"] for d in datagrams] == ["45.77.65.211", "45.77.65.212"]


def test_an_unreachable_receiver_is_a_clear_error():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = cef.SyslogSender(f"tcp://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(cef.SyslogFailed, match=f"syslog receiver tcp://127.0.0.1:{port}: Connection refused"):
        sender.send([b"x"])


@pytest.mark.parametrize("url", ["127.0.0.1:514", "ssl://127.0.0.1:6514", "tcp://127.0.0.1", "udp://:514",
                                 "tcp://127.0.0.1:70000"])
def test_bad_receiver_addresses_are_refused(url):
    with pytest.raises(ValueError, match="expected tls://host:port, tcp://host:port or udp://host:port"):
        syslog_address(url)
