"""The TLS context every HTTPS request of a run is verified with.

Both HTTP sessions (:mod:`safeinstall.session`) share one context, so a request verifies the
same way whichever session carries it. Without ``--cert`` it is the context the HTTP client
(httpcore2) builds by default, rebuilt here without importing httpcore2 (tens of milliseconds
of start-up): ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set; on Windows and macOS the system
trust store (truststore, httpcore2's own choice there); elsewhere OpenSSL's compiled-in CA file
and directory, or the first CA bundle found in the usual places.
``tests/test_session.py`` compares the two contexts' certificates.
"""

from __future__ import annotations

import os
import platform
import re
import ssl
from collections.abc import Callable, Mapping
from typing import TypeVar

from safeinstall.errors import UsageError

T = TypeVar("T")

#: truststore's (and httpcore2's) Linux fallbacks when OpenSSL's compiled-in paths are unusable.
CA_FILE_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


def default_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """httpcore2's ``default_ssl_context(_trust_env=True)``, for ``environ`` (default: the
    process environment). A CA file or directory that cannot be loaded is a
    :class:`~safeinstall.errors.UsageError` naming it."""
    env = os.environ if environ is None else environ
    if cafile := env.get("SSL_CERT_FILE"):
        return _load(f"SSL_CERT_FILE={cafile!r}",
                     lambda: ssl.create_default_context(cafile=cafile))
    if capath := env.get("SSL_CERT_DIR"):
        return _load(f"SSL_CERT_DIR={capath!r}",
                     lambda: ssl.create_default_context(capath=capath))
    if platform.system() in ("Windows", "Darwin"):  # pragma: no cover - not on this CI
        import httpcore2

        return httpcore2.default_ssl_context(_trust_env=False)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    if capath and not cafile and not any(
            re.fullmatch(r"[0-9a-fA-F]{8}\.\d", f) for f in os.listdir(capath)):
        capath = None
    if not cafile and not capath:
        cafile = next(filter(os.path.isfile, CA_FILE_CANDIDATES), None)
    if cafile or capath:
        _load(f"the system's CA certificates ({cafile or capath})",
              lambda: ctx.load_verify_locations(cafile, capath))
    return ctx


def _load(what: str, load: Callable[[], T]) -> T:
    """``load()``; its failure is a usage error naming ``what`` was being loaded."""
    try:
        return load()
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"{what} cannot be used for TLS: {exc}",
                         hint="give CA certificates in PEM form (a file, or a directory "
                         "prepared with c_rehash), or pip's --cert") from None


def context_for(cert: str | None, client_cert: str | None = None,
                default: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """The context for pip's ``--cert`` (a CA bundle file or directory; else ``default`` or
    :func:`default_context`) and ``--client-cert`` (one PEM file with the key and the
    certificate, as pip takes it)."""
    if cert:
        if not os.path.exists(cert):
            raise UsageError(f"certificate bundle {cert!r} (--cert / pip config) does not exist")
        try:
            ctx = ssl.create_default_context(cafile=cert) if os.path.isfile(cert) \
                else ssl.create_default_context(capath=cert)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"certificate bundle {cert!r} (--cert / pip config) cannot be "
                             f"read: {exc}") from None
    else:
        ctx = default if default is not None else default_context()
    if client_cert:
        try:
            ctx.load_cert_chain(client_cert)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"client certificate {client_cert!r} (--client-cert / pip config) "
                             f"cannot be used: {exc}",
                             hint="give one PEM file holding the private key and the "
                             "certificate, as for pip") from None
    return ctx


__all__ = ["default_context", "context_for", "CA_FILE_CANDIDATES"]
