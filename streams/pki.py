"""The hub's local certificate authority: the broker's and TAXII server's certificates, members' client
certificates. Made on first start by `deploy/kafka/kafka.sh` (`python -m streams.pki broker`) so that
every client connection is TLS from a fresh clone; an operator who brings their own certificates
points the settings at them instead (docs/operations.md, "Certificates").

Keys are PKCS#8 PEM, unencrypted, mode 0600 under `var/secrets/tls/` (0700): the broker reads
them as a PEM keystore, and no password file would protect them better than the directory does.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streams.settings import write_private

CA_DAYS = 3650
LEAF_DAYS = 397  # the CA/Browser Forum's ceiling for server certificates; members' too
_ORG = "kizuna hub"


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM text."""
    cert: str
    key: str


def ca_paths(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) of the CA kept in `directory` (var/secrets/tls/ by default)."""
    return directory / "ca.crt", directory / "ca.key"


def can_issue(directory: Path) -> bool:
    """Whether this hub holds the CA's key (not so when the operator brought certificates of their own)."""
    return all(path.is_file() for path in ca_paths(directory))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    return pem.decode()


def _cert_pem(cert: x509.Certificate) -> str:
    pem: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return pem.decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ensure_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The local CA, created once (P-256, ten years)."""
    cert_path, key_path = ca_paths(directory)
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), f"{key_path} is not an EC key"
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{_ORG} local CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(key_path, _key_pem(key))
    cert_path.write_text(_cert_pem(cert))
    return cert, key


def _issue(ca_directory: Path, subject: x509.Name, usage: x509.ObjectIdentifier, hosts: list[str]) -> Issued:
    ca_cert, ca_key = ensure_ca(ca_directory)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(_now() - dt.timedelta(minutes=5))
               .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(_cert_pem(builder.sign(ca_key, hashes.SHA256())) + _cert_pem(ca_cert), _key_pem(key))


def server_certificate(ca_directory: Path, directory: Path, name: str, hosts: list[str]) -> tuple[Path, Path]:
    """(chain, key) files `name`.crt/.key in `directory` of a server certificate for `hosts`, issued once
    by the CA in `ca_directory` and re-issued when the host list changes or within 30 days of expiry."""
    chain_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    if chain_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(chain_path.read_bytes())
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
            have |= set(sans.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            have = set()
        if have == set(hosts) and cert.not_valid_after_utc - _now() > dt.timedelta(days=30):
            return chain_path, key_path
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    issued = _issue(ca_directory, subject, ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    write_private(key_path, issued.key)
    chain_path.write_text(issued.cert)
    return chain_path, key_path


def client_certificate(directory: Path, principal: str, generation: int) -> Issued:
    """A member's client certificate, subject `CN=<principal>,OU=cert<generation>`: the broker's
    `ssl.principal.mapping.rules` name it `User:<principal>.cert<generation>`, a principal of its own
    that `streams.access` grants the member's rules to. Revoking a certificate is dropping its
    principal's ACLs (Kafka checks no revocation lists), so a rotation retires the old one exactly."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"cert{generation}"),
                         x509.NameAttribute(NameOID.COMMON_NAME, principal)])
    return _issue(directory, subject, ExtendedKeyUsageOID.CLIENT_AUTH, [])


def main(argv: list[str]) -> int:
    """`python -m streams.pki server TLS_DIRECTORY NAME HOST[,HOST...]`: the CA (once) and a server
    certificate NAME.crt/.key, with NAME.keystore.pem (key and chain in one file, Kafka's PEM keystore);
    prints the CA's and the keystore's paths. deploy/kafka/kafka.sh makes `broker` with it, and
    `make compose-tls` the compose cluster's `compose-broker` and `compose-taxii`."""
    if len(argv) != 4 or argv[0] != "server":
        print("usage: python -m streams.pki server TLS_DIRECTORY NAME HOST[,HOST...]", file=sys.stderr)
        return 2
    directory, name, hosts = Path(argv[1]), argv[2], [h for h in argv[3].split(",") if h]
    chain, key = server_certificate(directory, directory, name, hosts)
    keystore = directory / f"{name}.keystore.pem"
    write_private(keystore, key.read_text() + chain.read_text())
    print(ca_paths(directory)[0], keystore)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
