"""Typed settings of the SIEM outputs: `KIZUNA_SIEM_*` variables (sample in
connectors/siem/kizuna-siem.env.sample). The hub's own settings (namespace, Kafka, members)
stay in streams.settings; this file reads only what the exports add."""
from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import Settings, validated

ENV_PREFIX = "KIZUNA_SIEM_"
SID_SPAN = 2**31  # sids of one rules file: sid_base .. sid_base + SID_SPAN - 1 (Suricata sids are 32-bit)


class SiemSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    member: str | None = Field(None, description="Member whose entitlements the export follows, when `--as` is not "
                                                 "given.")
    out_dir: Path | None = Field(None, description="Where ECS files and blocklists are written. Default: "
                                                   "<KIZUNA_VAR_DIR>/siem/<member>.")
    syslog: str | None = Field(None, description="Syslog receiver of the CEF output, tls://host:port (RFC 5425), "
                                                 "tcp://host:port or udp://host:port; "
                                                 "unset: CEF lines go to standard output.")
    syslog_ca_file: Path | None = Field(None, description="CA certificate(s) the tls:// receiver's certificate is "
                                                          "checked against, PEM. Default: the system's CAs.")
    syslog_hostname: str = Field(default_factory=socket.gethostname, pattern=r"^[!-~]{1,255}$",
                                 description="HOSTNAME field of the RFC 5424 header (printable ASCII, no spaces).")
    syslog_facility: int = Field(16, ge=0, le=23, description="Syslog facility number (16: local0).")
    syslog_timeout_s: float = Field(10.0, gt=0, le=300,
                                    description="Connect and send timeout towards the syslog receiver.")
    block_unconfirmed: bool = Field(False, description="List unconfirmed records (contributor tier, inboxes) in "
                                                       "blocklists "
                                                       "too; by default only confirmed ones block.")
    sid_base: int = Field(1_000_000_000, ge=1_000_000, le=2**32 - 1 - SID_SPAN,
                          description="First Suricata sid of the rules file; sids are derived from STIX ids above it.")
    batch_records: int = Field(1000, ge=1, le=100_000,
                               description="Records read before the outputs are written and offsets committed "
                                           "(--follow).")
    idle_flush_s: float = Field(1.0, gt=0, le=60,
                                description="Write and commit a smaller batch after this many seconds without a "
                                            "record (--follow).")
    access_check_s: float = Field(30.0, gt=0, le=3600,
                                  description="How often a following export looks again at what the member may read.")

    @field_validator("syslog")
    @classmethod
    def _syslog(cls, value: str | None) -> str | None:
        if value is not None:
            syslog_address(value)
        return value

    def output_dir(self, hub: Settings, member: str) -> Path:
        return self.out_dir or hub.var_dir / "siem" / member


def syslog_address(url: str) -> tuple[str, str, int]:
    """'tls://host:port', 'tcp://host:port' or 'udp://host:port' -> (transport, host, port); ValueError says
    what is wrong."""
    transport, sep, rest = url.partition("://")
    host, _, port = rest.rpartition(":")
    if not sep or transport not in ("tls", "tcp", "udp") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected tls://host:port, tcp://host:port or udp://host:port, got {url!r}")
    return transport, host.strip("[]"), int(port)


@lru_cache(maxsize=1)
def get_siem_settings() -> SiemSettings:
    """Settings from the environment, validated once; raises ConfigError with the variable name."""
    return validated(SiemSettings, ENV_PREFIX)
