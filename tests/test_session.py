"""The HTTP sessions (safeinstall.session, safeinstall.tls): the light ``http.client`` session
and the full httpx2 one give :class:`HttpClient` the same answers to the same server
behaviour and faults; which requests each one carries; pip's proxy, netrc and certificate
settings; the TLS context both verify with."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clihelp import run_cli
from safeinstall.errors import IndexAccessError, UsageError
from safeinstall.http import HttpClient
from safeinstall.session import LightSession, Session, light_allowed
from safeinstall.tls import context_for, default_context
from support.faults import Fault, FaultServer

PAGE = r"^/simple/demo/$"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def faulty(scenario, local_index):
    """The "ontime" scenario (demo 1.0 -> dep 1.0) behind a fault-injecting server."""
    scenario("ontime")
    with FaultServer(local_index) as server:
        yield server


class Fulls:
    """Builds the full session (unearth's PyPIClient) and counts how often it was needed."""

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        self.context = context
        self.timeout = timeout
        self.made = 0

    def __call__(self) -> object:
        from unearth.fetchers.sync import PyPIClient

        self.made += 1
        return PyPIClient(verify=self.context, timeout=self.timeout)


def _client(kind: str, *, timeout: float = 5.0, retries: int = 2) -> tuple[HttpClient, Fulls]:
    ctx = default_context()
    fulls = Fulls(ctx, timeout)
    light = LightSession(ctx, timeout=timeout) if kind == "light" else None
    return HttpClient(Session(fulls, light), retries=retries, sleep=lambda s: None), fulls


@pytest.fixture(params=["light", "full"])
def kind(request) -> str:
    return str(request.param)


def _page(faulty: FaultServer, kind: str, **options: object) -> bytes:
    client, fulls = _client(kind, **options)  # type: ignore[arg-type]
    try:
        got = client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()
    assert fulls.made == (0 if kind == "light" else 1)
    assert got.status_code == 200
    return got.content


def _refused(faulty: FaultServer, kind: str, match: str, **options: object) -> None:
    """The page cannot be read: an IndexAccessError matching ``match``."""
    client, _ = _client(kind, **options)  # type: ignore[arg-type]
    try:
        with pytest.raises(IndexAccessError, match=match):
            client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()


def _reference(faulty: FaultServer) -> bytes:
    client, _ = _client("full")
    try:
        return client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON).content
    finally:
        client.close()
        faulty.clear()


# -- both sessions, the same answers ------------------------------------------------------------


def test_both_sessions_read_the_same_page_and_headers(faulty, kind):
    client, _ = _client(kind)
    try:
        got = client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()
    assert got.headers.get("content-type") == "application/vnd.pypi.simple.v1+json"
    assert got.content == _reference(faulty)
    assert b'"demo-1.0-py3-none-any.whl"' in got.content


@pytest.mark.parametrize("fault_kind, options", [
    ("status", {"status": 503, "times": 2}),
    ("reset", {"times": 2}),
    ("truncate", {"times": 1}),
    ("short", {"times": 1}),
])
def test_transient_faults_are_retried_by_both(faulty, kind, fault_kind, options):
    expected = _reference(faulty)
    fault = faulty.add(Fault(PAGE, fault_kind, **options))
    assert _page(faulty, kind) == expected
    assert faulty.count(PAGE) == fault.times + 1


def test_a_server_that_stops_answering_times_out_and_is_retried(faulty, kind):
    expected = _reference(faulty)
    faulty.add(Fault(PAGE, "hang", seconds=3))
    assert _page(faulty, kind, timeout=0.5) == expected
    assert faulty.count(PAGE) == 2


def test_persistent_failure_names_the_url_after_the_retries(faulty, kind):
    faulty.add(Fault(PAGE, "reset", times=10))
    client, _ = _client(kind, retries=1)
    try:
        with pytest.raises(IndexAccessError, match=r"demo/ \(index page\).*after 2 attempts"):
            client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_over_the_limit_is_refused(faulty, kind, declare_length):
    faulty.add(Fault(PAGE, "huge", size=3 << 20, declare_length=declare_length))
    _refused(faulty, kind, "larger than 1 MiB")


def test_chunked_transfer_encoding(faulty, kind):
    expected = _reference(faulty)
    faulty.add(Fault(PAGE, "chunked", chunk=100))
    assert _page(faulty, kind) == expected


@pytest.mark.parametrize("coding, encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
])
def test_compressed_bodies_are_decoded(faulty, kind, coding, encode):
    expected = _reference(faulty)
    faulty.add(Fault(PAGE, "body", body=encode(expected), headers={"Content-Encoding": coding},
                     content_type="application/vnd.pypi.simple.v1+json"))
    assert _page(faulty, kind) == expected


def test_a_compressed_body_is_held_to_the_limit_decoded(faulty, kind):
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 KiB on the wire
    faulty.add(Fault(PAGE, "body", body=bomb, headers={"Content-Encoding": "gzip"}))
    _refused(faulty, kind, "larger than 1 MiB")


def test_the_light_session_decodes_a_compressed_body_a_block_at_a_time(faulty):
    import tracemalloc

    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 KiB on the wire
    faulty.add(Fault(PAGE, "body", body=bomb, headers={"Content-Encoding": "gzip"}))
    client, _ = _client("light")
    tracemalloc.start()
    try:
        with pytest.raises(IndexAccessError, match="larger than 1 MiB"):
            client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        client.close()
    assert peak < 8 << 20  # never the whole 64 MiB at once


def test_a_corrupt_compressed_body_is_an_error_naming_the_url(faulty, kind):
    faulty.add(Fault(PAGE, "body", body=b"not gzip at all", headers={"Content-Encoding": "gzip"},
                     times=10))
    _refused(faulty, kind, r"cannot fetch .*/simple/demo/", retries=0)


def test_redirects_are_followed_hop_by_hop_by_both(faulty, kind):
    expected = _reference(faulty)
    faulty.add(Fault(r"^/old/demo/$", "redirect", location=f"{faulty.url}demo/"))
    client, _ = _client(kind)
    try:
        got = client.get(f"{faulty.base_url}/old/demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()
    assert got.content == expected
    assert got.redirects == (f"{faulty.url}demo/",)


# -- what the light session carries -------------------------------------------------------------


def test_401_is_asked_again_through_the_full_session(faulty):
    faulty.add(Fault(PAGE, "status", status=401, times=1))
    client, fulls = _client("light")
    try:
        got = client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()
    assert got.status_code == 200
    assert fulls.made == 1  # the second ask went through unearth's client (and its auth)
    assert faulty.count(PAGE) == 2
    # that host is now asked through the full session directly: no second 401 round trip
    faulty.add(Fault(PAGE, "status", status=401, times=2))  # for both sessions
    client2, fulls2 = _client("light")
    try:
        client2.get(f"{faulty.url}dep/", max_bytes=1 << 20)
        assert fulls2.made == 0
        assert client2.get(f"{faulty.url}demo/", max_bytes=1 << 20).status_code == 401
        assert client2.get(f"{faulty.url}demo/", max_bytes=1 << 20).status_code == 200
    finally:
        client2.close()
    assert fulls2.made == 1 and faulty.count(PAGE) == 5  # 2 + (light, full) + full


def test_connections_are_kept_alive_and_reused(faulty):
    client, _ = _client("light")
    try:
        for _ in range(5):
            client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
        faulty.add(Fault(PAGE, "status", status=404, body=b"gone"))
        assert client.get(f"{faulty.url}demo/", max_bytes=1 << 20).status_code == 404
        client.get(f"{faulty.url}demo/", max_bytes=1 << 20, headers=JSON)
    finally:
        client.close()
    peers = {s.peer for s in faulty.seen}
    assert len(faulty.seen) == 7 and len(peers) == 1


def test_a_host_name_is_looked_up_once_per_run(faulty, monkeypatch):
    lookups: list[str] = []
    real = socket.getaddrinfo
    lock = threading.Lock()

    def counting(host, *args, **kwargs):
        with lock:
            lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    client, _ = _client("light")
    url = f"http://localhost:{faulty.port}/simple/demo/"
    try:
        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(lambda _: client.get(url, max_bytes=1 << 20).status_code,
                                  range(8)))
    finally:
        client.close()
    assert pages == [200] * 8
    assert lookups == ["localhost"]


@pytest.mark.parametrize("url, light", [
    ("https://pypi.org/simple/demo/", True),
    ("http://127.0.0.1:8080/simple/demo/", True),
    ("http://localhost/simple/demo/", True),
    ("http://mirror.corp/simple/demo/", True),  # a --trusted-host over plain http
    ("https://mirror.corp/simple/demo/", False),  # pip does not verify it: unearth's client
    ("http://elsewhere.example/simple/demo/", False),  # refused by HttpClient anyway
    ("https://user:pw@pypi.org/simple/demo/", False),
    ("https://user@pypi.org/simple/demo/", False),
    ("https://pypi.org/simple/dém o/", False),
    ("https://pypi.org/simple/a b/", False),
    ("file:///tmp/simple/demo/", False),
    ("ftp://pypi.org/simple/demo/", False),
    ("https://pypi.org:notaport/simple/", False),
])
def test_which_requests_the_light_session_carries(url, light):
    assert LightSession(default_context(), trusted_hosts=("mirror.corp",)).handles(url) is light


@pytest.mark.parametrize("proxy, urls, environ, reason", [
    (None, ["https://pypi.org/simple"], {}, None),
    ("http://proxy:3128", ["https://pypi.org/simple"], {}, "proxy is configured (--proxy)"),
    (None, ["https://pypi.org/simple"], {"HTTPS_PROXY": "http://p:1"}, "in the environment"),
    (None, ["https://pypi.org/simple"], {"all_proxy": "socks5://p:1"}, "in the environment"),
    (None, ["https://pypi.org/simple"], {"NO_PROXY": "*"}, None),
    (None, ["https://pypi.org/simple"], {"NETRC": "/x/netrc"}, "netrc"),
    (None, ["https://pypi.org/simple", "https://u:p@corp/simple"], {}, "carries credentials"),
    (None, ["https://pypi.org/simple", "https://token@corp/simple"], {}, "carries credentials"),
])
def test_when_no_request_uses_the_light_session(proxy, urls, environ, reason, tmp_path,
                                                 monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    why = light_allowed(proxy=proxy, urls=urls, environ=environ)
    assert why is None if reason is None else reason in str(why)
    (tmp_path / ".netrc").write_text("machine corp login u password p\n")
    assert "netrc" in str(light_allowed(proxy=None, urls=urls, environ={}))


# -- pip's settings, end to end -----------------------------------------------------------------


def test_netrc_credentials_are_sent_as_pip_sends_them(faulty, clean_pip_env, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    args = ["-i", faulty.url, "--dry-run", "--ignore-installed", "demo"]
    run = run_cli(args, clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert not any("authorization" in s.headers for s in faulty.seen)
    faulty.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETRC", str(netrc))
        run = run_cli(args, clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    pages = [s for s in faulty.seen if s.path == "/simple/demo/"]
    assert pages and all(s.headers.get("authorization", "").startswith("Basic ")
                         for s in pages)


def test_proxy_option_is_used_for_every_request(faulty, local_index, clean_pip_env, tmp_path):
    # a second fault server is a forward proxy for plain http: it serves the absolute URL's path
    with FaultServer(local_index) as proxy:
        run = run_cli(["-i", faulty.url, "--proxy", proxy.base_url, "--dry-run",
                       "--ignore-installed", "demo"], clean_pip_env, tmp_path)
        assert run.code == 0, run.stderr
        assert proxy.count(PAGE) == 1 and proxy.count(r"^/simple/dep/$") == 1
    assert faulty.count(PAGE) == 0


def test_a_client_certificate_that_cannot_be_read_is_a_usage_error(faulty, clean_pip_env,
                                                                     tmp_path):
    bad = tmp_path / "client.pem"
    bad.write_text("not a certificate\n")
    run = run_cli(["-i", faulty.url, "--client-cert", str(bad), "--dry-run", "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert f"client certificate {str(bad)!r}" in run.stderr
    with pytest.raises(UsageError, match="does not exist"):
        context_for(str(tmp_path / "missing.pem"))


# -- the TLS context ----------------------------------------------------------------------------


def _fingerprint(ctx: ssl.SSLContext) -> tuple[object, ...]:
    certs = sorted(str(c.get("serialNumber")) + str(c.get("subject")) for c in ctx.get_ca_certs())
    return (ctx.verify_mode, ctx.check_hostname, ctx.protocol, ctx.cert_store_stats(), certs)


@pytest.mark.parametrize("env", ["none", "file", "dir"])
def test_default_context_is_httpcore2s(env, monkeypatch):
    import httpcore2

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    paths = ssl.get_default_verify_paths()
    bundle = next((p for p in (paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt")
                   if p and Path(p).is_file()), None)
    if env == "file":
        assert bundle, "this machine has no CA bundle"
        monkeypatch.setenv("SSL_CERT_FILE", bundle)
    elif env == "dir":
        monkeypatch.setenv("SSL_CERT_DIR", str(Path(bundle or "/etc/ssl/certs").parent))
    ours = default_context()
    theirs = httpcore2.default_ssl_context(_trust_env=True)
    assert _fingerprint(ours) == _fingerprint(theirs)
    assert ours.verify_mode == ssl.CERT_REQUIRED and ours.check_hostname
    if env != "dir":  # a directory's certificates load on demand
        assert ours.cert_store_stats()["x509_ca"] > 0


# -- TLS end to end: a server of our own ---------------------------------------------------------


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    import subprocess

    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 with a self-signed certificate; it asks for (but does not
    require) a client certificate signed by ``client``, and records whether one came."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert, key = _self_signed(tmp_path, "server")
    client_cert, client_key = _self_signed(tmp_path, "client")
    client_pem = tmp_path / "client-bundle.pem"  # key and certificate in one file, as pip takes
    client_pem.write_text(client_key.read_text() + client_cert.read_text())
    seen: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002
            """Quiet."""

        def do_GET(self):  # noqa: N802
            seen.append(self.connection.getpeercert() is not None)
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(client_cert)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"https://127.0.0.1:{server.server_address[1]}/x", "cert": cert,
               "client": client_pem, "seen": seen}
    finally:
        server.shutdown()
        server.server_close()


def test_a_certificate_that_does_not_verify_is_refused_at_once(tls_server, kind):
    client, _ = _client(kind, retries=3)
    try:
        with pytest.raises(IndexAccessError) as info:
            client.get(tls_server["url"], max_bytes=1024)
    finally:
        client.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "attempts" not in str(info.value)  # not retried: it will not get better
    assert tls_server["seen"] == []


def test_cert_and_client_cert_are_used_by_both_sessions(tls_server, kind):
    ctx = context_for(str(tls_server["cert"]), str(tls_server["client"]))
    fulls = Fulls(ctx, 5.0)
    light = LightSession(ctx, timeout=5.0) if kind == "light" else None
    client = HttpClient(Session(fulls, light), retries=0)
    try:
        got = client.get(tls_server["url"], max_bytes=1024)
    finally:
        client.close()
    assert got.content == b"hello"
    assert tls_server["seen"] == [True]  # the client certificate was presented
    assert fulls.made == (0 if kind == "light" else 1)


@pytest.mark.parametrize("variable, value, why", [
    ("SSL_CERT_FILE", "missing.pem", "No such file"),
    ("SSL_CERT_FILE", "not-pem.txt", "no certificate"),
])
def test_a_ca_bundle_that_cannot_be_loaded_is_a_usage_error(faulty, clean_pip_env, tmp_path,
                                                            variable, value, why):
    (tmp_path / "not-pem.txt").write_text("not a certificate\n")
    path = str(tmp_path / value)
    with pytest.raises(UsageError, match=rf"{variable}='{path}' cannot be used for TLS.*{why}"):
        default_context({variable: path})
    env = {k: v for k, v in clean_pip_env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    run = run_cli(["-i", faulty.url, "--dry-run", "demo"], dict(env, **{variable: path}),
                  tmp_path)
    assert run.code == 2, run.stderr
    assert f"{variable}={path!r} cannot be used for TLS" in run.stderr
    assert "Traceback" not in run.stderr
