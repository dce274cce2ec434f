"""Issue 13, part C: a run fails closed and says so. Crashes are usage errors naming the input
(exit 2), a report that cannot be written never hides an install, signals stop a run at once
(and a dripping server cannot hold it), outside text reaches no terminal raw, and no secret of
a URL is printed. docs/faults.md and docs/threat-model.md list each case with its test."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from clihelp import run_cli
from lockhelp import publish, run_tool
from safeinstall.cli import main as cli_main
from safeinstall.tool import main as tool_main
from support.artifacts import build_wheel
from support.faults import Fault, FaultServer
from support.index import JSON_CONTENT_TYPE
from support.piprun import pip_list

SRC = str(Path(__file__).resolve().parent.parent / "src")
LONG = "99999999999999d"


def _page(index, name: str) -> dict:
    return json.loads((index.pages_dir / name / "index.json").read_text())


def _plain(args: list[str], env: dict[str, str], tmp_path: Path, *,
           cwd: Path | None = None) -> tuple[int, str, str]:
    """``safe-install ARGS`` in-process, without the test's --report."""
    env = dict(env)
    env.setdefault("SAFE_INSTALL_CACHE_DIR", str(tmp_path / "si-cache"))
    env.setdefault("SAFE_INSTALL_TRUST_STORE", "off")
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(args, environ=env, stdout=out, stderr=err, cwd=str(cwd or tmp_path))
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, out.getvalue(), err.getvalue()


# -- crashes that were tracebacks (exit 1, "refused") ---------------------------------------------


@pytest.mark.parametrize("where", ["command line", "environment", "config file"])
def test_an_enormous_late_after_is_a_usage_error(where, scenario, local_index, clean_pip_env,
                                                 tmp_path):
    scenario("ontime")
    env, args = dict(clean_pip_env), ["-i", local_index.url, "--dry-run", "demo"]
    if where == "command line":
        args += ["--late-after", LONG]
    elif where == "environment":
        env["SAFE_INSTALL_LATE_AFTER"] = LONG
    else:
        (tmp_path / "safe-install.toml").write_text(f'late-after = "{LONG}"\n')
    code, _, err = _plain(args, env, tmp_path)
    assert code == 2
    assert f"duration '{LONG}' is too long" in err


def test_a_config_file_that_is_not_utf8_is_a_usage_error(scenario, local_index, clean_pip_env,
                                                         tmp_path):
    scenario("ontime")
    (tmp_path / "safe-install.toml").write_bytes(b'late-after = "36h"\n# caf\xe9\n')
    code, _, err = _plain(["-i", local_index.url, "--dry-run", "demo"], clean_pip_env, tmp_path)
    assert code == 2
    assert "safe-install.toml' is not UTF-8 text" in err


@pytest.mark.parametrize("under", [False, True], ids=["file", "under-a-file"])
def test_a_cache_dir_that_is_a_file_is_a_usage_error(under, scenario, local_index,
                                                     clean_pip_env, tmp_path):
    scenario("ontime")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cache = blocker / "cache" if under else blocker
    env = {**clean_pip_env, "SAFE_INSTALL_CACHE_DIR": str(cache)}
    code, _, err = _plain(["-i", local_index.url, "--dry-run", "demo"], env, tmp_path)
    assert code == 2
    assert f"cache directory {str(cache)!r} (from SAFE_INSTALL_CACHE_DIR)" in err
    code, _, err = _plain(["-i", local_index.url, "--dry-run", "--no-cache-dir", "demo"], env,
                          tmp_path)
    assert code == 0, err
    lock = run_tool(["lock", "-i", local_index.url, "demo", "--output-requirements",
                     str(tmp_path / "r.txt")],
                    env, tmp_path)
    assert lock.code == 2 and "is not a directory" in lock.stderr


def test_uploaded_prior_to_with_too_many_days_is_a_usage_error(clean_pip_env, tmp_path):
    code, _, err = _plain(["--uploaded-prior-to", "P99999999999999D", "--dry-run", "demo"],
                          clean_pip_env, tmp_path)
    assert code == 2 and "too many days" in err


def test_watch_survives_an_upload_time_without_a_utc_moment_and_a_huge_since(
        local_index, clean_pip_env, tmp_path, t0):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    publish(local_index, tmp_path, t0, "demo", "1.0", tag="py2.py3-none-any",
            offset=timedelta(days=3))
    page = _page(local_index, "demo")
    page["files"][1]["upload-time"] = "0001-01-01T00:00:00+14:00"
    store = f"sqlite:///{tmp_path}/watch.sqlite3"
    with FaultServer(local_index) as faulty:
        faulty.add(Fault("^/simple/demo/$", "body", body=json.dumps(page).encode(),
                         content_type=JSON_CONTENT_TYPE, times=1000))
        base = ["watch", "demo==1.0", "-i", faulty.url, "--store", store]
        run = run_tool([*base, "--report-existing"], clean_pip_env, tmp_path)
        assert run.code == 0, run.stderr
        assert "1 release(s) checked" in run.stderr
        run = run_tool([*base, "--since", LONG], clean_pip_env, tmp_path)
        assert run.code == 2 and "is too long" in run.stderr
        tl = run_tool(["timeline", "demo==1.0", "-i", faulty.url], clean_pip_env, tmp_path)
        assert tl.code == 0, tl.stderr


def _closed_stdout(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with its standard output closed by the reader before it writes (as
    ``| head -1`` does once it has its line)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


def test_trust_list_into_a_closed_pipe_exits_141_quietly(clean_pip_env, tmp_path):
    env = {**clean_pip_env, "PYTHONPATH": SRC,
           "SAFE_INSTALL_TRUST_STORE": str(tmp_path / "trust.sqlite3")}
    done = _closed_stdout([sys.executable, "-c", "from safeinstall.tool import console_main;"
                           "console_main()", "trust", "list", "--format", "json"], env)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_watch_into_a_closed_pipe_exits_141_and_reports_again_next_time(
        local_index, clean_pip_env, tmp_path, t0):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    args = ["watch", "demo==1.0", "-i", local_index.url, "--store",
            f"sqlite:///{tmp_path}/watch.sqlite3"]
    assert run_tool(args, clean_pip_env, tmp_path).code == 0  # the baseline
    publish(local_index, tmp_path, t0, "demo", "1.0", tag="py2.py3-none-any",
            offset=timedelta(days=3))
    err = io.StringIO()
    code = tool_main(args, environ=clean_pip_env, stdout=_ClosedPipe(), stderr=err,
                     cwd=str(tmp_path))
    assert code == 141 and "Traceback" not in err.getvalue()
    again = run_tool(args, clean_pip_env, tmp_path)  # what nobody read is news still
    assert [json.loads(line)["filename"] for line in again.stdout.splitlines()] == \
        ["demo-1.0-py2.py3-none-any.whl"], again.stderr


def test_an_internal_error_exits_70_and_says_nothing_was_installed(
        scenario, local_index, clean_pip_env, tmp_path, monkeypatch):
    import safeinstall.checker

    def broken(**_kwargs: object) -> None:
        raise RuntimeError("boom \x1b[2J")

    scenario("ontime")
    monkeypatch.setattr(safeinstall.checker, "run_check", broken)
    code, _, err = _plain(["-i", local_index.url, "--dry-run", "demo"], clean_pip_env, tmp_path)
    assert code == 70
    assert "internal error (a bug in safe-install, exit 70): RuntimeError: boom \\x1b[2J" in err
    assert "safe-install: nothing was installed." in err
    assert "\x1b" not in err
    err_stream = io.StringIO()
    code = cli_main(["-i", local_index.url, "--dry-run", "demo"],
                    environ={**clean_pip_env, "SAFE_INSTALL_DEBUG": "1",
                             "SAFE_INSTALL_TRUST_STORE": "off"},
                    stdout=io.StringIO(), stderr=err_stream, cwd=str(tmp_path))
    assert code == 70 and "in broken" in err_stream.getvalue()  # the traceback, on request


# -- cause 7: a report that lies ------------------------------------------------------------------


@pytest.mark.parametrize("dest", ["missing-dir/report.json", "."], ids=["no-dir", "a-dir"])
def test_an_unwritable_report_is_refused_before_anything_is_installed(
        dest, scenario, local_index, make_venv, clean_pip_env, tmp_path):
    scenario("ontime")
    venv = make_venv()
    target = str(tmp_path / dest)
    code, _, err = _plain(["--python", str(venv), "-i", local_index.url, "--report", target,
                           "demo"], clean_pip_env, tmp_path)
    assert code == 2
    assert f"cannot write the report to {target!r}" in err
    assert pip_list(venv, clean_pip_env) == {}


def test_a_report_that_fails_after_the_install_says_it_was_installed(
        scenario, local_index, make_venv, clean_pip_env, tmp_path, monkeypatch):
    import safeinstall.fileio

    scenario("ontime")
    venv = make_venv()
    real_write = safeinstall.fileio.write_atomically

    def failing_write(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("late-failure.json"):
            raise OSError(28, "No space left on device")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(safeinstall.fileio, "write_atomically", failing_write)
    code, _, err = _plain(["--python", str(venv), "-i", local_index.url, "--report",
                           str(tmp_path / "late-failure.json"), "demo"], clean_pip_env,
                          tmp_path)
    assert code == 5
    assert "cannot write the report" in err and "No space left on device" in err
    assert "safe-install: the checked artifacts were installed." in err
    assert "nothing was installed" not in err
    assert set(pip_list(venv, clean_pip_env)) == {"demo", "dep"}


# -- cause 8: no deadline, signals ignored --------------------------------------------------------


PAGE = r"^/simple/demo/$"


@pytest.mark.parametrize("kind", ["drip", "slow"], ids=["headers-and-body", "body"])
def test_a_dripping_page_is_cut_at_the_response_deadline(kind, scenario, local_index,
                                                         clean_pip_env, tmp_path):
    """1 byte every 0.2 s never trips the read timeout; the whole response has a deadline."""
    scenario("ontime")
    with FaultServer(local_index) as faulty:
        faulty.add(Fault(PAGE, kind, chunk=1, interval=0.2, seconds=30, times=10))
        started = time.monotonic()
        run = run_cli(["-i", faulty.url, "--dry-run", "--response-deadline", "1.5", "demo"],
                      clean_pip_env, tmp_path)
        took = time.monotonic() - started
    assert run.code == 3, run.stderr
    assert f"{faulty.url}demo/ (index page) took longer than the response deadline of 1.5s" \
        in run.stderr
    assert took < 10  # one try: a dripping server is not asked again and again
    assert faulty.count(PAGE) == 1


def test_the_response_deadline_must_be_a_positive_number(clean_pip_env, tmp_path):
    code, _, err = _plain(["--response-deadline", "soon", "--dry-run", "demo"], clean_pip_env,
                          tmp_path)
    assert code == 2 and "invalid --response-deadline 'soon'" in err


def _wait_for(faulty: FaultServer, kind: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not any(s.fault == kind for s in faulty.seen):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the request never came"
        time.sleep(0.05)
    time.sleep(0.5)


@pytest.mark.parametrize("sig, code, tool", [(signal.SIGTERM, 143, False),
                                             (signal.SIGINT, 130, False),
                                             (signal.SIGTERM, 143, True)],
                         ids=["SIGTERM", "SIGINT", "SIGTERM-timeline"])
def test_a_signal_during_a_dripping_page_ends_the_run_within_2s(sig, code, tool, scenario,
                                                                local_index, clean_pip_env,
                                                                tmp_path):
    scenario("ontime")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**clean_pip_env, "TMPDIR": str(tmpdir), "SAFE_INSTALL_TRUST_STORE": "off",
           "SAFE_INSTALL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": SRC}
    with FaultServer(local_index) as faulty:
        faulty.add(Fault(PAGE, "drip", chunk=1, interval=0.5, seconds=30, times=50))
        cmd = [sys.executable, "-c", "from safeinstall.tool import console_main; "
               "console_main()", "timeline", "demo==1.0", "-i", faulty.url] if tool else \
            [sys.executable, "-m", "safeinstall", "-i", faulty.url, "--dry-run", "demo"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            _wait_for(faulty, "drip", proc)
            sent = time.monotonic()
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == code, stderr
    assert took < 2.0, f"the run took {took:.1f}s to stop"
    assert "Traceback" not in stderr
    assert ("terminated (SIGTERM)" if tool else "nothing was installed") in stderr
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("safe-install")] == []


# -- cause 10: terminal injection -----------------------------------------------------------------


HOSTILE = "evil-1.0-1\x1b[1A\x1b[2K\r\x1b[32mok\u202e...-py3-none-any.whl"
UNPARSEABLE = "evil-1.0\x1b[31m\x07-garbage.whl"


def _raw_controls(text: str) -> list[str]:
    from safeinstall.display import is_unsafe_char

    return sorted({repr(c) for c in text if is_unsafe_char(c) and c not in "\n"})


@pytest.fixture
def hostile(local_index, tmp_path, t0):
    """evil 1.0: an on-time wheel, then (3 days later) a wheel whose build tag is a terminal
    escape that erases the line above and prints a green "ok", and a file whose name does not
    parse at all (an "ignored file" note)."""
    publish(local_index, tmp_path, t0, "evil", "1.0")
    late = build_wheel(tmp_path / "late", "evil", "1.0", payload="other")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / HOSTILE).write_bytes(late.read_bytes())
    local_index.add(renamed / HOSTILE, upload_time=t0 + timedelta(days=3))
    page = _page(local_index, "evil")
    for entry in page["files"]:  # the URL is spelt right: only the name is hostile
        entry["url"] = quote(entry["url"], safe=":/#=")
    extra = dict(page["files"][-1])
    extra.update(filename=UNPARSEABLE, url=extra["url"] + "x")
    page["files"].append(extra)
    with FaultServer(local_index) as faulty:
        faulty.add(Fault("^/simple/evil/$", "body", body=json.dumps(page).encode(),
                         content_type=JSON_CONTENT_TYPE, times=1000))
        file = next(f for f in local_index.files("evil") if f.filename == HOSTILE)
        yield faulty.url, file


def test_a_hostile_file_name_reaches_no_output_raw(hostile, clean_pip_env, tmp_path, t0):
    url, hostile = hostile
    store = tmp_path / "trust.sqlite3"  # the dry run records the release's files there
    outputs: dict[str, str] = {}
    run = run_cli(["-i", url, "--dry-run", "evil==1.0"],
                  {**clean_pip_env, "SAFE_INSTALL_TRUST_STORE": str(store)}, tmp_path)
    assert run.code == 1
    outputs["install"] = run.stdout + run.stderr
    run = run_cli(["-i", url, "--dry-run", "-v", "--on-late", "warn", "evil==1.0"],
                  {**clean_pip_env, "SAFE_INSTALL_TRUST_STORE": str(store)}, tmp_path)
    outputs["install -v"] = run.stdout + run.stderr
    for name, args in {
        "timeline": ["timeline", "evil==1.0", "-i", url],
        "timeline-json": ["timeline", "evil==1.0", "-i", url, "--format", "json"],
        "lock": ["lock", "evil==1.0", "-i", url, "--output-requirements",
                 str(tmp_path / "locked.txt")],
        "watch": ["watch", "evil==1.0", "-i", url, "--report-existing",
                  "--store", f"sqlite:///{tmp_path}/watch.sqlite3"],
    }.items():
        done = run_tool(args, clean_pip_env, tmp_path)
        outputs[name] = done.stdout + done.stderr
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"evil==1.0 --hash=sha256:{hostile.sha256}\n")
    for fmt in ("text", "json", "sarif"):
        done = run_tool(["audit", str(lock), "-i", url, "--format", fmt],
                        clean_pip_env, tmp_path)
        assert done.code == 1, done.stderr
        outputs[f"audit {fmt}"] = done.stdout + done.stderr
    # guard: the old lock had the on-time wheel only; the new one adds the hostile name's hash
    old_lock = tmp_path / "old.lock"
    old_lock.write_text("evil==1.0\n")
    for fmt in ("text", "json", "sarif"):
        done = run_tool(["guard", str(old_lock), str(lock), "-i", url, "--all", "--format", fmt],
                        clean_pip_env, tmp_path)
        assert done.code == 1, done.stderr
        outputs[f"guard {fmt}"] = done.stdout + done.stderr
    sarif = json.loads(run_tool(["audit", str(lock), "-i", url, "--format",
                                 "sarif"], clean_pip_env, tmp_path).stdout)
    messages = [r["message"]["text"] for r in sarif["runs"][0]["results"]]
    assert messages and not _raw_controls("".join(messages))
    from safeinstall.snapshots import SeenFile
    from safeinstall.trust import open_trust

    trust = open_trust(str(store), environ=clean_pip_env, cwd=str(tmp_path), now=t0,
                       write=True)
    assert trust is not None
    with trust:  # a store written by anyone: its names are outside text too
        trust.observe({(url, "evil\x1b[2J", "1"): [SeenFile(HOSTILE, hostile.sha256)]},
                      now=t0)
    env = {**clean_pip_env, "SAFE_INSTALL_TRUST_STORE": str(store)}
    for fmt in ("text", "json"):
        done = run_tool(["trust", "list", "--format", fmt], env, tmp_path)
        outputs[f"trust list {fmt}"] = done.stdout + done.stderr
    assert "evil\\x1b[2J 1" in outputs["trust list text"]

    for name, text in outputs.items():
        assert not _raw_controls(text), f"{name} printed raw control characters:\n{text!r}"
    shown = "1\\x1b[1A\\x1b[2K"  # seen, escaped
    for name in ("install", "timeline", "audit text", "guard text", "lock"):
        assert shown in outputs[name], f"{name}:\n{outputs[name]}"


def test_safe_console_and_stream_escape_what_they_print():
    from rich.table import Table
    from rich.text import Text

    from safeinstall.display import SafeStream, safe_console

    raw = io.StringIO()
    console = safe_console(file=SafeStream(raw), force_terminal=True, width=200,
                           highlight=False)
    table = Table()
    table.add_column("file")
    table.add_row(HOSTILE)
    table.add_row(Text(HOSTILE, style="red"))
    console.print(f"[bold]{HOSTILE}[/]", table)
    SafeStream(raw).write(f"plain {HOSTILE}\n")
    text = raw.getvalue()
    # rich's own styles are ESC sequences: strip them, then nothing raw is left
    import re

    bare = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.replace("\\x1b", ""))
    assert "\r" not in text and "\u202e" not in text and "\x1b[1A" not in text
    assert not _raw_controls(bare)
    assert text.count("\\x1b[2K") == 4


# -- cause 11: secrets in messages ----------------------------------------------------------------


def test_an_index_password_is_never_printed(local_index, clean_pip_env, tmp_path, t0):
    publish(local_index, tmp_path, t0, "demo", "1.0", upload_time=False)
    url = local_index.url.replace("http://", "http://ci:hunter2@")
    run = run_cli(["-i", url, "--dry-run", "-v", "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert "unknown-upload-time" in run.stderr and "ci:****@" in run.stderr
    report = json.dumps(run.report)
    done = run_tool(["timeline", "demo==1.0", "-i", url], clean_pip_env, tmp_path)
    assert done.code == 0, done.stderr
    for text in (run.stdout, run.stderr, report, done.stdout, done.stderr):
        assert "hunter2" not in text


@pytest.mark.parametrize("hook", ["http://127.0.0.1:1/hook?token=hunter2",
                                  "http://bot:hunter2@127.0.0.1:1/hook",
                                  "ftp://bot:hunter2@example.invalid/hook?token=hunter2"],
                         ids=["query-token", "user-info", "invalid"])
def test_a_webhook_secret_is_never_printed(hook, local_index, clean_pip_env, tmp_path, t0):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    publish(local_index, tmp_path, t0, "demo", "1.0", tag="py2.py3-none-any",
            offset=timedelta(days=3))
    done = run_tool(["watch", "demo==1.0", "-i", local_index.url, "--report-existing",
                     "--store", f"sqlite:///{tmp_path}/watch.sqlite3", "--webhook", hook],
                    clean_pip_env, tmp_path)
    assert done.code == (2 if hook.startswith("ftp") else 3), done.stderr
    assert "webhook" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr


@pytest.mark.parametrize("store", [
    "postgresql://ci:hunter2@127.0.0.1:1/db?connect_timeout=2",
    "postgresql://ci@127.0.0.1:1/db?password=hunter2&connect_timeout=2",
    "postgresql://ci:hunter2@[::1/db",
    "postgresql://ci:hunter2@127.0.0.1:port/db",
], ids=["password-in-netloc", "password-in-query", "malformed-host", "malformed-port"])
def test_a_store_password_is_never_printed(store, clean_pip_env, tmp_path):
    pytest.importorskip("psycopg")
    for args in (["watch", "demo==1.0", "--no-index", "--store", store], ["trust", "list"]):
        env = {**clean_pip_env, "SAFE_INSTALL_TRUST_STORE": store}
        done = run_tool(args, env, tmp_path)
        assert done.code in (2, 3), done.stderr
        assert "state store" in done.stderr or "store URL" in done.stderr
        assert "hunter2" not in done.stdout + done.stderr
    code, _, err = _plain(["--trust-store", store, "--no-index", "demo"], clean_pip_env,
                          tmp_path)
    assert code in (2, 3) and "hunter2" not in err


@pytest.mark.parametrize("name, code", [("ontime", 0), ("attack", 1)])
def test_the_process_ends_with_its_output_and_code_without_a_teardown(name, code, scenario,
                                                                      local_index,
                                                                      clean_pip_env, tmp_path):
    """The entry point ends the process without tearing the interpreter down (issue 21): what
    was written to piped (block-buffered) standard output and error still arrives whole, the
    exit code is the run's, and the run's temporary files are gone."""
    scenario(name)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**clean_pip_env, "TMPDIR": str(tmpdir), "SAFE_INSTALL_TRUST_STORE": "off",
           "SAFE_INSTALL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-m", "safeinstall", "-i", local_index.url,
                           "--dry-run", "-v", "--report", "-", "demo"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code, done.stderr
    report = json.loads(done.stdout[done.stdout.index("{"):])  # the whole report, parsed
    assert report["exit_code"] == code
    assert "demo" in [p["name"] for p in report["packages"]]
    assert done.stdout.rstrip().endswith("}")
    assert "Traceback" not in done.stderr
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("safe-install")] == []
