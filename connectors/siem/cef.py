"""STIX indicator -> ArcSight Common Event Format line, and a syslog sender for it (RFC 5424
messages; over TCP framed by octet counting, RFC 6587; over UDP one message per datagram, RFC 5426).

The CEF header carries only fixed words (vendor, product, version, state, kind), so it never
needs escaping; every value goes into the extension, escaped as the CEF specification says.
"""
from __future__ import annotations

import socket
import ssl
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from connectors.siem.indicator import Indicator
from connectors.siem.settings import syslog_address

PRODUCT_VERSION = version("kizuna")

UDP_MAX = 65_507  # the largest UDP payload over IPv4
NOTICE = 5  # syslog severity of every message: indicators are information, not alarms


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def escape(value: str) -> str:
    """An extension value as CEF requires: backslash, equals sign and line breaks escaped."""
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def _typed_field(kind: str, value: str) -> dict[str, str]:
    """The CEF dictionary key that fits the value, where there is one (a CIDR range has none)."""
    if "/" in value and kind in ("ipv4-addr", "ipv6-addr"):
        return {}
    return {"ipv4-addr": {"dst": value}, "ipv6-addr": {"c6a3Label": "ipv6Indicator", "c6a3": value},
            "domain-name": {"dhost": value}, "url": {"request": value}, "email-addr": {"duser": value}}.get(
        kind, {"fileHash": value})


def line(indicator: Indicator, now: datetime) -> str:
    """One CEF:0 event for one indicator version, its state as of `now` in the signature id."""
    state = indicator.state(now)
    kind = indicator.observable or "stix-pattern"
    severity = 0 if state in ("revoked", "expired") else round((indicator.confidence or 0) / 10)
    fields: dict[str, str] = {
        "rt": str(_millis(indicator.modified)),
        "cs1Label": "stixId", "cs1": indicator.id,
        "cs2Label": "indicatorType", "cs2": kind,
        "cs3Label": "tlp", "cs3": indicator.tlp.label.removeprefix("TLP:"),
        "cs4Label": "status", "cs4": state,
        "cs5Label": "pattern", "cs5": indicator.pattern,
        "cn2Label": "sightings", "cn2": str(indicator.sightings),
    }
    if indicator.value is not None:
        fields |= {"cs6Label": "indicator", "cs6": indicator.value} | _typed_field(kind, indicator.value)
    if indicator.confidence is not None:
        fields |= {"cn1Label": "confidence", "cn1": str(indicator.confidence)}
    if indicator.first_seen is not None:
        fields["start"] = str(_millis(indicator.first_seen))
    if indicator.valid_until is not None:
        fields["end"] = str(_millis(indicator.valid_until))
    extension = " ".join(f"{key}={escape(value)}" for key, value in fields.items())
    return f"CEF:0|kizuna|kizuna|{PRODUCT_VERSION}|indicator-{state}|{kind} indicator {state}|{severity}|{extension}"


def rfc5424(message: str, moment: datetime, hostname: str, facility: int) -> bytes:
    """One syslog message: header, no structured data, the CEF line as MSG (UTF-8, no BOM)."""
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"<{facility * 8 + NOTICE}>1 {stamp} {hostname} kizuna - indicator - {message}".encode()


class SyslogFailed(OSError):
    """The syslog receiver could not be reached or took the connection down; says which."""


class SyslogSender:
    """Sends RFC 5424 messages to one receiver; TCP and TLS connect on first use and again after a failure.
    Over TLS (RFC 5425) the receiver's certificate is checked against `ca_file` (else the system's CAs)
    and its name against the host of the URL; framing is octet counting, as over TCP."""

    def __init__(self, url: str, timeout_s: float, ca_file: Path | None = None) -> None:
        self.url = url
        self.transport, host, port = syslog_address(url)
        self._address, self._timeout = (host, port), timeout_s
        self._tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None) \
            if self.transport == "tls" else None
        self._sock: socket.socket | None = None

    def _connected(self) -> socket.socket:
        if self._sock is None:
            if self.transport in ("tcp", "tls"):
                sock = socket.create_connection(self._address, timeout=self._timeout)
                if self._tls is not None:
                    try:
                        sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
                    except OSError:
                        sock.close()
                        raise
                self._sock = sock
            else:
                family, kind, proto, _, address = socket.getaddrinfo(*self._address, type=socket.SOCK_DGRAM)[0]
                self._sock = socket.socket(family, kind, proto)
                self._sock.settimeout(self._timeout)
                self._sock.connect(address)  # a refused port then shows on the next send
        return self._sock

    def send(self, messages: list[bytes]) -> None:
        """Hand every message to the network, or raise SyslogFailed (nothing counts as sent then)."""
        try:
            sock = self._connected()
            if self.transport in ("tcp", "tls"):
                sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in messages))
                return
            for message in messages:
                if len(message) > UDP_MAX:
                    raise SyslogFailed(f"a {len(message)}-byte message does not fit a UDP datagram; use tcp://")
                sock.send(message)
        except OSError as exc:
            self.close()
            if isinstance(exc, SyslogFailed):
                raise
            reason = getattr(exc, "reason", None) or exc.strerror or exc  # an SSLError's reason names the check
            raise SyslogFailed(f"syslog receiver {self.url}: {reason}") from None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
