"""Build the bridge's collaborators from the settings: signer, transport (a registry by name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import current_app

from ptap.dmp_bridge.crypto import SigningIdentity, development_identity, load_signing_identity
from ptap.dmp_bridge.ports import DmpTransport

_signers: dict[str, SigningIdentity] = {}


def signer() -> SigningIdentity:
    """The structure's seal identity; a generated one outside production when none is set."""
    cfg = current_app.config
    key = f"signer:{cfg['DMP_SIGNING_CERT']}:{cfg['DMP_SIGNING_KEY']}:{current_app.instance_path}"
    if key not in _signers:
        if cfg["DMP_SIGNING_CERT"]:
            _signers[key] = load_signing_identity(cfg["DMP_SIGNING_CERT"], cfg["DMP_SIGNING_KEY"])
        else:
            _signers[key] = development_identity(Path(current_app.instance_path) / "dmp")
    return _signers[key]


def _soap() -> DmpTransport:
    from ptap.dmp_bridge.soap import SoapDmpTransport

    cfg = current_app.config
    client_cert = None
    if cfg["DMP_TLS_CLIENT_CERT"]:
        client_cert = (cfg["DMP_TLS_CLIENT_CERT"], cfg["DMP_TLS_CLIENT_KEY"])
    return SoapDmpTransport(
        base_url=cfg["DMP_BASE_URL"],
        signer=signer(),
        client_cert=client_cert,
        ca_bundle=cfg["DMP_TLS_CA_BUNDLE"] or None,
        connect_timeout=float(cfg["DMP_CONNECT_TIMEOUT_SECONDS"]),
        read_timeout=float(cfg["DMP_TIMEOUT_SECONDS"]),
        consult_timeout=float(cfg.get("DMP_CONSULT_TIMEOUT_SECONDS", 5)),
        lps_name=cfg["DMP_LPS_NAME"],
        lps_version=cfg["DMP_LPS_VERSION"],
        lps_homologation_id=cfg["DMP_LPS_HOMOLOGATION_ID"],
        source_oid=cfg["DMP_OID_ROOT"],
    )


def _fake() -> DmpTransport:
    from ptap.dmp_bridge.fake import shared_fake_transport

    return shared_fake_transport()


#: DMP_TRANSPORT names the transport (CTFd-style registry).
TRANSPORTS: dict[str, Callable[[], DmpTransport]] = {"soap": _soap, "fake": _fake}


def transport() -> DmpTransport:
    """The transport the settings name (one per application: it keeps its HTTP connections)."""
    name = current_app.config["DMP_TRANSPORT"]
    if name not in TRANSPORTS:
        raise LookupError(f"unknown DMP_TRANSPORT {name!r}")
    if name == "fake":
        return TRANSPORTS[name]()
    cached = current_app.extensions.get("dmp_transport")
    if cached is None:
        cached = current_app.extensions["dmp_transport"] = TRANSPORTS[name]()
    return cached
