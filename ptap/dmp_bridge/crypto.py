"""The structure's signing identity (seal certificate) for the VIHF assertion and XAdES.

In production the key and certificate come from the IGC-Santé "certificat de cachet" of the
structure (PEM files named in the settings). In development and tests a self-signed pair is
generated once into the instance folder, so the whole chain runs without real credentials.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ptap.core import clock

_lock = threading.Lock()


@dataclass(frozen=True)
class SigningIdentity:
    """A private key with its certificate, both PEM-encoded."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def subject_dn(self) -> str:
        """The certificate's subject as an RFC 4514 string (VIHF Issuer)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def load_signing_identity(cert_path: str | Path, key_path: str | Path) -> SigningIdentity:
    """Read a PEM certificate and its unencrypted PEM private key."""
    cert_pem = Path(cert_path).read_bytes()
    key_pem = Path(key_path).read_bytes()
    x509.load_pem_x509_certificate(cert_pem)  # fail early on a wrong file
    serialization.load_pem_private_key(key_pem, password=None)
    return SigningIdentity(key_pem=key_pem, cert_pem=cert_pem)


def generate_identity(common_name: str, organisation: str) -> SigningIdentity:
    """Make a self-signed RSA-2048 identity (development and tests only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = clock.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def development_identity(folder: str | Path) -> SigningIdentity:
    """Load, or create once, the self-signed identity kept in ``folder`` (dmp-seal.*.pem)."""
    folder = Path(folder)
    cert_path, key_path = folder / "dmp-seal.cert.pem", folder / "dmp-seal.key.pem"
    with _lock:
        if not (cert_path.exists() and key_path.exists()):
            folder.mkdir(parents=True, exist_ok=True)
            identity = generate_identity("PTAP DMP seal (development)", "PTAP development")
            key_path.write_bytes(identity.key_pem)
            key_path.chmod(0o600)
            cert_path.write_bytes(identity.cert_pem)
        return load_signing_identity(cert_path, key_path)
