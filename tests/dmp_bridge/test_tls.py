"""HTTPS with the structure's client certificate: the transport authenticates, others do not.

A local certificate authority signs a server certificate for 127.0.0.1 and the structure's
client certificate; the simulator is served over TLS and requires a client certificate from
that authority, as the DMP requires an IGC-Santé one.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.serving import make_server

from ptap.devtools.dmp_simulator.server import build_simulator
from ptap.dmp_bridge.cda import build_cda
from ptap.dmp_bridge.crypto import generate_identity
from ptap.dmp_bridge.ports import DmpError, RequestContext
from ptap.dmp_bridge.soap import SoapDmpTransport
from ptap.dmp_bridge.xds import build_provide_and_register
from tests.dmp_bridge.dmp_samples import sample_document, sample_ids

NOW = datetime.now(UTC)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca=False, usage=None, ip=False):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert, key) -> tuple[str, str]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _cert("Test IGC-Santé CA", ca_key, "Test IGC-Santé CA", ca_key, ca=True)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _cert(
        "127.0.0.1", server_key, "Test IGC-Santé CA", ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH, ip=True,
    )  # fmt: skip
    client = _cert(
        "DAC de test", client_key, "Test IGC-Santé CA", ca_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )  # fmt: skip
    stranger = _cert("Autre", stranger_key, "Autre", stranger_key)  # self-signed
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    return {
        "ca": ca_path,
        "server": _write(folder, "server", server, server_key),
        "client": _write(folder, "client", client, client_key),
        "stranger": _write(folder, "stranger", stranger, stranger_key),
    }


@pytest.fixture
def tls_simulator(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki["server"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED  # the DMP authenticates the structure
    simulator = build_simulator()
    server = make_server("127.0.0.1", 0, simulator, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.port}{simulator.prefix}"
    server.shutdown()
    server.server_close()
    simulator.close()


def _transport(base_url: str, ca: str, cert: tuple[str, str] | None) -> SoapDmpTransport:
    return SoapDmpTransport(
        base_url,
        SIGNER,
        lps_name="PTAP",
        lps_version="test",
        lps_homologation_id="TEST",
        client_cert=cert,
        ca_bundle=ca,
        connect_timeout=5,
        read_timeout=10,
    )


SIGNER = generate_identity("DAC de test (cachet)", "DAC de test")


def _submit(transport: SoapDmpTransport):
    doc = sample_document()
    payload = build_provide_and_register(
        doc,
        sample_ids(),
        build_cda(doc, sample_ids()),
        SIGNER,
        source_oid="1.2.250.1.999.1.1.7777",
        submission_set_oid="1.2.250.1.999.1.1.7777.3.1",
        now=NOW,
    )
    context = RequestContext(doc.patient, doc.author, doc.organisation)
    return transport.send_submission(transport.prepare_submission(payload, context))


def test_the_structure_certificate_opens_the_tls_channel(tls_simulator, pki):
    transport = _transport(tls_simulator, pki["ca"], pki["client"])
    try:
        receipt = _submit(transport)
    finally:
        transport.close()
    assert receipt.status == "Success"


def test_without_a_client_certificate_the_dmp_is_unreachable(tls_simulator, pki):
    transport = _transport(tls_simulator, pki["ca"], None)
    try:
        with pytest.raises(DmpError) as refused:
            _submit(transport)
    finally:
        transport.close()
    assert refused.value.code in ("tls", "connection")


def test_a_server_outside_the_trusted_authorities_is_refused(tls_simulator, pki):
    transport = _transport(tls_simulator, pki["stranger"][0], pki["client"])
    try:
        with pytest.raises(DmpError) as refused:
            _submit(transport)
    finally:
        transport.close()
    assert refused.value.code == "tls"
