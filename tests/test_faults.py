"""Network faults, injected by a server on 127.0.0.1 (support.faults): bounded retries with
backoff, exit 3 naming the URL, integrity failures retried once then refused, size limits,
redirects, and interrupts that leave the target as it was. docs/faults.md lists each case."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clihelp import run_cli
from safeinstall.distmeta import MAX_METADATA_BYTES
from safeinstall.finder import MAX_PAGE_BYTES
from support.artifacts import build_wheel
from support.faults import Fault, FaultServer
from support.piprun import pip_list

PAGE = r"^/simple/demo/$"
WHEEL = r"^/files/demo-1\.0-py3-none-any\.whl$"


@pytest.fixture
def faulty(scenario, local_index):
    """The "ontime" scenario (demo 1.0 -> dep 1.0) behind a fault-injecting server."""
    scenario("ontime")
    with FaultServer(local_index) as server:
        yield server


def _dry(faulty: FaultServer, *extra: str) -> list[str]:
    return ["-i", faulty.url, "--dry-run", "--ignore-installed", *extra, "demo"]


# -- bounded retries ----------------------------------------------------------------------------


def test_5xx_on_index_page_is_retried_then_succeeds(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "status", status=503, times=2))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert faulty.count(PAGE) == 3


def test_persistent_5xx_exits_3_naming_the_url_after_bounded_retries(faulty, clean_pip_env,
                                                                    tmp_path):
    faulty.add(Fault(PAGE, "status", status=500, times=100))
    run = run_cli(_dry(faulty, "--retries", "2"), clean_pip_env, tmp_path)
    assert run.code == 3
    assert f"{faulty.url}demo/" in run.stderr
    assert "HTTP 500, after 3 attempts" in run.stderr
    assert faulty.count(PAGE) == 3  # the first try and 2 retries, not one more
    assert run.report["exit_code"] == 3


def test_pip_retries_setting_from_pip_configuration_is_used(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "status", status=502, times=100))
    env = {**clean_pip_env, "PIP_RETRIES": "1"}
    run = run_cli(_dry(faulty), env, tmp_path)
    assert run.code == 3 and "after 2 attempts" in run.stderr
    assert faulty.count(PAGE) == 2


def test_429_honours_retry_after(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "status", status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert time.monotonic() - started >= 1.0  # waited as asked, not the 10 ms test backoff
    assert faulty.count(PAGE) == 2


def test_retry_after_longer_than_the_cap_stops_at_once(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "status", status=503, headers={"Retry-After": "3600"}, times=10))
    started = time.monotonic()
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "asks to retry after 3600s" in run.stderr and f"{faulty.url}demo/" in run.stderr
    assert time.monotonic() - started < 30
    assert faulty.count(PAGE) == 1


def test_connection_reset_is_retried(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "reset", times=2))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert faulty.count(PAGE) == 3


def test_persistent_connection_reset_exits_3(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "reset", times=100))
    run = run_cli(_dry(faulty, "--retries", "1"), clean_pip_env, tmp_path)
    assert run.code == 3
    assert f"{faulty.url}demo/" in run.stderr and "after 2 attempts" in run.stderr


def test_timeout_is_retried_then_gives_up(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "hang", seconds=3, times=1))
    run = run_cli(_dry(faulty, "--timeout", "0.5"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    faulty.clear()
    faulty.add(Fault(PAGE, "hang", seconds=3, times=100))
    run = run_cli(_dry(faulty, "--timeout", "0.5", "--retries", "1"), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "Timeout" in run.stderr and f"{faulty.url}demo/" in run.stderr


def test_metadata_file_5xx_is_retried(scenario, local_index, clean_pip_env, tmp_path, t0):
    local_index.add(build_wheel(tmp_path / "d", "solo", "1.0"), upload_time=t0,
                    advertise_metadata=True)
    with FaultServer(local_index) as faulty:
        faulty.add(Fault(r"\.metadata$", "status", status=503, times=1))
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "solo"],
                      clean_pip_env, tmp_path)
        assert run.code == 0, run.stderr
        assert faulty.count(r"\.metadata$") == 2
        assert run.package("solo")["metadata_source"] == "metadata-file"


# -- downloads: truncated, altered, retried once, nothing partial ------------------------------


def test_truncated_download_is_retried_and_installs(faulty, make_venv, clean_pip_env,
                                                    tmp_path):
    faulty.add(Fault(WHEEL, "truncate"))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert faulty.count(WHEEL) == 2
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_short_download_without_length_fails_its_hash_and_is_retried_once(
        faulty, make_venv, clean_pip_env, tmp_path):
    faulty.add(Fault(WHEEL, "truncate-nolength"))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert faulty.count(WHEEL) == 2
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_altered_download_is_refused_after_one_retry_and_nothing_is_kept(
        faulty, make_venv, clean_pip_env, tmp_path):
    faulty.add(Fault(WHEEL, "corrupt", times=5))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 3
    assert "demo-1.0-py3-none-any.whl" in run.stderr and "on two downloads" in run.stderr
    assert "but the index lists" in run.stderr
    assert faulty.count(WHEEL) == 2  # retried once, not more
    assert pip_list(venv, clean_pip_env) == {}
    cache = tmp_path / "si-cache"
    assert not [p for p in cache.rglob("*") if p.name.startswith("demo-1.0-py3")]
    assert not list(cache.rglob("*.part"))


def test_download_larger_than_the_listed_size_is_cut_off(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(WHEEL, "huge", size=4 * 1024 * 1024, content_type="application/zip",
                     times=5))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "demo-1.0-py3-none-any.whl (download) is larger than" in run.stderr


# -- size limits ---------------------------------------------------------------------------------


def test_huge_index_page_with_length_is_refused_unread(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "huge", size=MAX_PAGE_BYTES + 1, times=5,
                     content_type="application/vnd.pypi.simple.v1+json"))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert f"{faulty.url}demo/ (index page) is larger than 64 MiB" in run.stderr


def test_huge_index_page_without_length_is_cut_off_at_the_limit(faulty, clean_pip_env,
                                                                tmp_path):
    faulty.add(Fault(PAGE, "huge", size=MAX_PAGE_BYTES + 1024 * 1024, declare_length=False,
                     content_type="text/html", times=5))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "is larger than 64 MiB; refusing to read more" in run.stderr


def test_huge_metadata_file_is_refused(local_index, clean_pip_env, tmp_path, t0):
    local_index.add(build_wheel(tmp_path / "d", "solo", "1.0"), upload_time=t0,
                    advertise_metadata=True)
    with FaultServer(local_index) as faulty:
        faulty.add(Fault(r"\.metadata$", "huge", size=MAX_METADATA_BYTES + 1, times=5))
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "solo"],
                      clean_pip_env, tmp_path)
    assert run.code == 3
    assert "solo-1.0-py3-none-any.whl.metadata (metadata file) is larger than 16 MiB" \
        in run.stderr


# -- redirects and credentials -----------------------------------------------------------------


def test_redirect_to_another_host_does_not_forward_credentials(faulty, local_index,
                                                                clean_pip_env, tmp_path):
    env = {**clean_pip_env, "NETRC": str(tmp_path / "no-netrc")}
    with FaultServer(local_index) as other:
        elsewhere = f"http://localhost:{other.port}/simple/demo/"
        faulty.add(Fault(PAGE, "redirect", location=elsewhere, times=10))
        index = faulty.url.replace("http://", "http://alice:s3cret@")
        run = run_cli(["-i", index, "--dry-run", "--ignore-installed", "demo"], env, tmp_path)
        assert run.code == 0, run.stderr
        assert faulty.seen and all("authorization" in s.headers for s in faulty.seen)
        assert other.seen and not any("authorization" in s.headers for s in other.seen)
    assert any("redirected to" in n and "another host" in n for n in run.report["notes"])
    assert "s3cret" not in run.stderr and "s3cret" not in str(run.report)


def test_redirect_to_plain_http_elsewhere_is_refused(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "redirect", location="http://example.invalid/simple/demo/",
                     times=10))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "redirected to http://example.invalid/simple/demo/" in run.stderr
    assert "over insecure http" in run.stderr and "--trusted-host example.invalid" in run.stderr


def test_redirect_loop_is_an_error(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "redirect", location="/simple/demo/", times=1000))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3 and "redirects more than 10 times" in run.stderr


def test_401_is_an_error_and_never_a_prompt(faulty, clean_pip_env, tmp_path):
    faulty.add(Fault(PAGE, "status", status=401, times=10))
    run = run_cli(_dry(faulty), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "HTTP 401 (not authorised)" in run.stderr and f"{faulty.url}demo/" in run.stderr


# -- interrupts -----------------------------------------------------------------------------------


def test_sigterm_during_a_slow_download_leaves_nothing_behind(local_index, make_venv,
                                                              clean_pip_env, tmp_path, t0):
    wheel = build_wheel(tmp_path / "d", "solo", "1.0", payload=os.urandom(6000).hex())
    local_index.add(wheel, upload_time=t0)
    venv = make_venv()
    tmpdir, cache = tmp_path / "tmp", tmp_path / "cache"
    tmpdir.mkdir()
    env = {**clean_pip_env, "TMPDIR": str(tmpdir), "SAFE_INSTALL_CACHE_DIR": str(cache),
           "SAFE_INSTALL_TRUST_STORE": "off"}
    with FaultServer(local_index) as faulty:
        faulty.add(Fault(r"^/files/solo-1\.0-py3-none-any\.whl$", "slow", chunk=200,
                         interval=0.2, seconds=30))
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeinstall", "--python", str(venv), "-i", faulty.url,
             "solo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not any(s.fault == "slow" for s in faulty.seen):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the download never started"
                time.sleep(0.05)
            time.sleep(0.5)  # well inside the ~25 s the slow download takes
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    assert pip_list(venv, clean_pip_env) == {}
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("safe-install")] == []
    assert not list(cache.rglob("*.part"))
    assert not [p for p in cache.rglob("*") if p.name.endswith(".whl")]


def test_interrupt_while_pip_installs_lets_pip_finish(tmp_path):
    """SIGTERM (turned into KeyboardInterrupt by the CLI) during the final pip run does not
    kill pip half-way through changing the environment: pip finishes, then the run stops."""
    from safeinstall.installer import InstallInterrupted, PipCall, _run

    marker = tmp_path / "finished"
    code = f"import time, pathlib; time.sleep(1); pathlib.Path({str(marker)!r}).touch()"

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(InstallInterrupted) as info:
            _run([PipCall((sys.executable, "-c", code), dict(os.environ))], [], "installing",
                 quiet=True, shield=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert marker.exists()  # pip's work was completed, not cut
    assert info.value.exit_code == 130 and "allowed to finish" in str(info.value)


def test_fault_server_is_bounded(local_index, tmp_path):
    """The fault server stops on its own, and a spent fault serves the real content."""
    import httpx2

    server = FaultServer(local_index, lifetime=1.0).start()
    server.add(Fault(r"^/simple/$", "status", status=500, times=1))
    with httpx2.Client() as client:
        assert client.get(server.url).status_code == 500
        assert client.get(server.url).status_code == 200
    time.sleep(1.5)
    with pytest.raises(httpx2.TransportError), httpx2.Client(timeout=2) as client:
        client.get(server.url)
    with pytest.raises(ValueError):
        Fault("x", "status", times=0)
    assert Path(local_index.root).exists()


# -- the HTTP client on its own ------------------------------------------------------------------


def test_backoff_doubles_with_jitter_and_is_bounded(faulty):
    from unearth.fetchers.sync import PyPIClient

    from safeinstall.errors import IndexAccessError
    from safeinstall.http import HttpClient

    faulty.add(Fault(PAGE, "status", status=503, times=100))
    pauses: list[float] = []
    client = HttpClient(PyPIClient(), retries=4, backoff=0.25, sleep=pauses.append)
    try:
        with pytest.raises(IndexAccessError, match="HTTP 503, after 5 attempts"):
            client.get(f"{faulty.url}demo/", max_bytes=1024)
    finally:
        client.close()
    assert len(pauses) == 4
    for n, pause in enumerate(pauses):
        assert 0.25 * 2**n * 0.5 <= pause <= 0.25 * 2**n


def test_only_https_loopback_and_trusted_hosts_are_fetched():
    from safeinstall.errors import IndexAccessError
    from safeinstall.http import HttpClient, is_secure_url, redact

    assert is_secure_url("https://pypi.org/simple/", ())
    assert is_secure_url("http://127.0.0.1:8080/simple/", ())
    assert is_secure_url("http://localhost/simple/", ())
    assert not is_secure_url("http://pypi.mycorp/simple/", ())
    assert is_secure_url("http://pypi.mycorp/simple/", ("pypi.mycorp",))
    assert is_secure_url("http://pypi.mycorp:8080/simple/", ("pypi.mycorp:8080",))
    assert not is_secure_url("file:///etc/passwd", ())
    client = HttpClient(None)
    with pytest.raises(IndexAccessError, match="redirected to http://evil.example/x: refusing"):
        client.check_secure("http://evil.example/x", via="https://pypi.org/simple/x/")
    with pytest.raises(IndexAccessError, match="only http"):
        client.check_secure("ftp://pypi.org/x", via="https://pypi.org/simple/x/")
    assert redact("https://u:pw@host/simple/") == "https://u:****@host/simple/"
    assert redact("https://host/simple/") == "https://host/simple/"
