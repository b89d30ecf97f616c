"""One typed settings object, the only reader of the environment.

Every knob is a `KIZUNA_*` variable (see `deploy/kizuna.env.sample`). Bad values
fail at start-up with a message naming the variable, not deep inside a worker.
"""
from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.constants import MAX_MESSAGE_BYTES

ROOT = Path(__file__).resolve().parents[1]
MEMBERS_SAMPLE = ROOT / "deploy" / "members.sample.yaml"
SEEDABLE_REGISTRIES: set[Path] = set()  # default registry paths (var/members.yaml) seen so far


class ConfigError(Exception):
    """Raised for configuration an operator must fix; the CLI prints it without a traceback."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIZUNA_", env_file=None, extra="ignore")

    namespace: str = Field(
        "kizuna",
        pattern=r"^[a-z][a-z0-9-]{0,30}$",
        description="Prefix of every topic and consumer group; tests use their own.",
    )
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port].")
    kafka_security: Literal["sasl_ssl", "sasl_plaintext", "plaintext"] = Field(
        "sasl_ssl", description="How clients reach Kafka: SCRAM over TLS (the default, and the only SCRAM listener "
                                "the local broker has); sasl_plaintext and plaintext only for a broker of your own "
                                "without TLS.")
    kafka_user: str = Field("admin", pattern=r"^[A-Za-z0-9._-]{1,100}$",
                            description="This process's SCRAM user: admin for setup, <namespace>-hub for workers.")
    kafka_password: SecretStr | None = Field(
        None, description="Password of kafka_user. Defaults to var/secrets/kafka/<user>.password (written by the "
                          "local setup).")
    kafka_ca_file: Path | None = Field(
        None, description="CA certificate(s) that sign the brokers' certificates, PEM. "
                          "Default: the local CA, var/secrets/tls/ca.crt (made by deploy/kafka/kafka.sh).")
    kafka_cert_port: int = Field(9094, ge=1, le=65535, description="Port of the local broker's TLS client-certificate "
                                                                 "listener (deploy/kafka/kafka.sh reads it too).")
    cert_bootstrap_servers: str | None = Field(
        None, description="The brokers' TLS client-certificate listener, host:port[,...], written into members' "
                          "credentials for stock tools (kcat, rsyslog) that cannot do SCRAM. "
                          "Default: the bootstrap hosts with kafka_cert_port.")
    credentials_file: Path | None = Field(
        None, description="A member's credentials file issued by `kizuna members add`, on the member's own machine.")
    var_dir: Path = Field(ROOT / "var", description="Local state: broker data, merge state, secrets.")
    cache_dir: Path = Field(ROOT / "var" / "cache", description="Data derived from shipped files (the compact "
                            "warning-list index), shared by every worker and namespace of a host.")
    partitions: int = Field(4, ge=1, le=256, description="Partitions of the work topics; the worker scale-out limit.")
    pseudonym_key: SecretStr | None = Field(
        None, description="Key of the keyed hash that turns member ids into pseudonyms. Defaults to "
                          "var/secrets/pseudonym.key."
    )
    members_file: Path = Field(
        default_factory=lambda data: data["var_dir"] / "members.yaml",
        description="The members registry (YAML), state that `kizuna members add|remove` change: default "
                    "<var_dir>/members.yaml, seeded from deploy/members.sample.yaml on first use.")
    warninglists: bool = Field(True, description="Score values on the MISP warning lists down (a compact index, "
                                                 "memory-mapped and shared by the workers of a host; built once "
                                                 "per release).")
    confirm_threshold: int = Field(60, ge=1, le=100,
                                   description="Confidence at which a record is confirmed for general members.")
    republish_step: int = Field(10, ge=1, le=100,
                                description="Confidence change that makes a new version without a status change.")
    standing_window_days: int = Field(30, ge=1, le=3650,
                                      description="Window over which contributor standing is counted.")
    standing_bar: int = Field(5, ge=1, description="Contributions (accepted items + feedback) in the window that keep "
                                                   "contributor standing.")
    hub_name: str = Field("kizuna hub",
                          description="Name of the hub identity that replaces submitters in shared records.")
    max_submission_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=MAX_MESSAGE_BYTES,
                                      description="Largest submission accepted.")
    max_objects: int = Field(250_000, ge=1, description="Most objects/lines one submission may carry.")
    max_json_depth: int = Field(64, ge=4, le=1000, description="Deepest JSON nesting accepted.")
    max_object_bytes: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024,
                                  description="Largest single object (a STIX object as JSON) carried; larger ones are "
                                              "rejected `too-large`.")
    drop_types: str = Field("", pattern=r"^[a-z0-9-]*(,[a-z0-9-]+)*$",
                            description="Comma-separated STIX types the hub does not share "
                                        "(e.g. `x-mitre-matrix,note`); "
                                        "they are skipped, reason `dropped-type`.")
    bulk_bytes: int = Field(1024 * 1024, ge=1024, description="Submissions larger than this go to the bulk intake lane "
                                                             "unless the sender chooses a lane.")
    bulk_max_backlog: int = Field(4, ge=1, le=10_000,
                                  description="The bulk lane publishes only while at most this many "
                                                                "normalised batches wait for the merge agents (all "
                                                                "workers).")
    batch_records: int = Field(500, ge=1, le=10_000, description="Normalised records per internal Kafka message.")
    take_max: int = Field(64, ge=1, le=10_000, description="Kafka messages an agent takes per batch; many small "
                          "submissions in one batch share its flushes (docs/performance.md).")
    step_bytes: int = Field(512 * 1024, ge=1024, le=64 * 1024 * 1024,
                            description="A batch is processed in steps of at most this many bytes of messages (at "
                                        "least one message each): what a worker holds at once, whatever the sizes "
                                        "of the messages (~4,000 normalised records, or one large submission).")
    feedback_take_max: int = Field(64, ge=1, le=10_000, description="Feedback messages (small: 200 sightings each) "
                                   "the feedback agent takes per batch; more sightings of one record per batch are "
                                   "folded with one state read and write.")
    take_within_s: float = Field(0.02, gt=0, le=5,
                                 description="Longest wait to fill a batch, seconds: latency vs. throughput.")
    session_timeout_s: float = Field(10, ge=3, le=300,
                                     description="A worker silent this long is dropped from the group and its "
                                                 "partitions move.")
    producer_linger_ms: int = Field(5, ge=0, le=1000, description="Producer linger: latency traded for throughput.")
    store: Literal["rocksdb", "memory"] = Field("rocksdb", description="Merge-state store: RocksDB on disk or memory "
                                                                       "(tests).")
    native: bool = Field(True, description="Run the compiled core (`make native`) when a build of the current "
                         "sources exists; false runs the reference Python. Read once, when streams.core is first "
                         "imported (streams/native.py), so it is an environment variable, not a runtime switch.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of the worker's Prometheus /metrics; 0 disables.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the Faust worker's own web server.")
    log_level: Literal["debug", "info", "warn", "error"] = Field("info", description="Worker log level.")

    @field_validator("bootstrap_servers", "cert_bootstrap_servers")
    @classmethod
    def _servers(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @model_validator(mode="after")
    def _seedable_members(self) -> Settings:
        """The default registry may be seeded from the sample on first use (streams.members.load); an
        explicit KIZUNA_MEMBERS_FILE never is: a typo must fail, not start an empty hub."""
        if "members_file" not in self.model_fields_set:
            SEEDABLE_REGISTRIES.add(self.members_file)
        return self

    @property
    def secrets_dir(self) -> Path:
        return self.var_dir / "secrets"

    def kafka_secret(self) -> str:
        """Password of `kafka_user`: the setting, else the local file the setup wrote."""
        if self.kafka_password is not None:
            return self.kafka_password.get_secret_value()
        path = self.secrets_dir / "kafka" / f"{self.kafka_user}.password"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(f"no password for Kafka user {self.kafka_user!r}: set KIZUNA_KAFKA_PASSWORD "
                              f"or create {path} (`make kafka` does for the local admin)") from None

    def cert_servers(self) -> str:
        """Where stock tools log in with a client certificate."""
        if self.cert_bootstrap_servers:
            return self.cert_bootstrap_servers
        hosts = dict.fromkeys(s.strip().rpartition(":")[0] for s in self.bootstrap_servers.split(","))
        return ",".join(f"{host}:{self.kafka_cert_port}" for host in hosts)

    def ca_file(self) -> Path:
        """The CA the brokers' certificates are checked against: the setting, else the local CA."""
        path = self.kafka_ca_file or self.secrets_dir / "tls" / "ca.crt"
        if not path.is_file():
            raise ConfigError(f"no CA certificate at {path}: set KIZUNA_KAFKA_CA_FILE to the CA that signed the "
                              f"brokers' certificates, or start the local broker (`make kafka`), which creates it")
        return path

    @property
    def warninglist_cache(self) -> Path:
        """Where the compact warning-list index is built once and memory-mapped by every worker."""
        return self.cache_dir / "warninglists"

    @property
    def state_dir(self) -> Path:
        return self.var_dir / "state" / self.namespace

    def pseudonym_secret(self) -> bytes:
        """The pseudonym key; a local default is created once under var/secrets/."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        path = self.secrets_dir / "pseudonym.key"
        if not path.exists():
            write_private(path, secrets.token_hex(32), replace=False)
        return path.read_text().strip().encode()


def write_private(path: Path, text: str, replace: bool = True) -> bool:
    """The one way kizuna writes a secret (or other private state): a file created 0600 in a 0700
    directory, its whole content in place before anyone can open it (a private temporary file renamed,
    or linked, over the target).
    `replace=False` creates it only if it does not exist (the first writer wins, even across processes);
    returns whether this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)


AnySettings = TypeVar("AnySettings", bound=BaseSettings)


def validated(cls: type[AnySettings], prefix: str = "KIZUNA_") -> AnySettings:
    """`cls` read from the environment; a bad value raises ConfigError naming the variable.
    Connectors' settings (their own prefixes) are read the same way."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                             for err in exc.errors())
        raise ConfigError(f"bad configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, validated once; raises ConfigError with the variable name."""
    return validated(Settings)
