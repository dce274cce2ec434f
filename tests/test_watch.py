"""Issue 5: ``safe-install-tool watch`` - a baseline, then files added to pinned releases are
reported once, by severity, as JSON lines and to a webhook; on SQLite and on PostgreSQL; with
concurrent runs sharing one store."""

from __future__ import annotations

import io
import json
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from safeinstall.tool import main as tool_main
from support.artifacts import build_sdist, build_wheel
from support.scenarios import foreign_tag, native_tag
from support.stores import STORE_KINDS, empty_store, run_concurrently

PY = f"{sys.version_info[0]}{sys.version_info[1]}"


@pytest.fixture(params=STORE_KINDS)
def store_url(request, tmp_path):
    yield from empty_store(request.param, tmp_path / "watch.sqlite3")


@pytest.fixture
def sqlite_store(tmp_path):
    return f"sqlite:///{tmp_path}/watch.sqlite3"


class Watch:
    """Runs ``safe-install-tool watch`` in-process against the local index and one store."""

    def __init__(self, index, env, tmp_path, t0, store):
        self.index, self.env, self.tmp, self.t0, self.store = index, env, tmp_path, t0, store
        self.req = tmp_path / "requirements.txt"
        self.req.write_text("demo==1.0\n")
        self.work = tmp_path / "artifacts"

    def publish(self, kind="wheel", tag="py3-none-any", offset=timedelta(0), payload="benign",
                replace=False, name="demo", version="1.0"):
        out = self.work / f"{name}-{version}-{kind}-{tag}-{payload}"
        path = build_wheel(out, name, version, tag=tag, payload=payload) if kind == "wheel" \
            else build_sdist(out, name, version, payload=payload)
        return self.index.add(path, upload_time=self.t0 + offset, replace=replace)

    def args(self, day, *extra):
        now = (self.t0 + timedelta(days=day)).isoformat()
        return ["watch", "-r", str(self.req), "-i", self.index.url, "--store", self.store,
                "--now", now, *extra]

    def __call__(self, day, *extra):
        out, err = io.StringIO(), io.StringIO()
        code = tool_main(self.args(day, *extra), environ=self.env, stdout=out, stderr=err,
                         cwd=str(self.tmp))
        assert "Traceback" not in err.getvalue(), err.getvalue()
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return code, lines, err.getvalue()


@pytest.fixture
def released(local_index, clean_pip_env, tmp_path, t0):
    """demo 1.0 released on time (sdist and pure wheel); returns a factory of Watch runners."""

    def make(store):
        watch = Watch(local_index, clean_pip_env, tmp_path, t0, store)
        watch.sdist = watch.publish(kind="sdist")
        watch.pure = watch.publish(offset=timedelta(minutes=2))
        return watch

    return make


def test_baseline_then_a_late_file_is_reported_once_and_fails(released, store_url, t0):
    watch = released(store_url)
    code, lines, err = watch(1)
    assert (code, lines) == (0, []), err
    assert "1 recorded for the first time" in err and "0 finding(s)" in err
    native = watch.publish(tag=native_tag(), offset=timedelta(days=90), payload="malicious")
    code, lines, err = watch(91)
    assert code == 1, err
    assert len(lines) == 1
    [f] = lines
    assert f["kind"] == "new-file" and f["severity"] == "error"
    assert (f["project"], f["version"], f["filename"]) == ("demo", "1.0", native.filename)
    assert f["sha256"] == native.sha256 and f["size"] == native.size
    assert f["late"] is True and f["lateness_seconds"] == 90 * 86400
    assert f["selected_by"] == ["current"]
    assert f["release_start"].startswith("2024-04-24T19:31:22")
    assert f["first_seen"].startswith((t0 + timedelta(days=91)).date().isoformat())
    assert f["pinned_by"].endswith("requirements.txt:1") and f["index"] == watch.index.url
    assert f["repeat"] is False
    assert "pip would now select it for current" in f["message"]
    assert "1 error" in err
    # the news was delivered: the next run is quiet
    code, lines, err = watch(92)
    assert (code, lines) == (0, []), err
    # ... unless a --since window asks for the recent history again
    code, lines, err = watch(92, "--since", "7d")
    assert code == 1 and [x["filename"] for x in lines] == [native.filename]
    assert lines[0]["repeat"] is True
    code, lines, _ = watch(92, "--since", "1d")  # uploaded 2 days before "now": outside
    assert (code, lines) == (0, [])


def test_a_file_for_an_untargeted_platform_is_a_warning_and_exits_0(released, store_url):
    watch = released(store_url)
    assert watch(1)[0] == 0
    foreign = watch.publish(tag=foreign_tag(), offset=timedelta(days=90))
    code, lines, err = watch(91)
    assert code == 0, err
    [f] = lines
    assert f["filename"] == foreign.filename
    assert f["severity"] == "warning" and f["late"] is True
    assert f["selected_by"] == []
    if "3.10" <= f"{sys.version_info[0]}.{sys.version_info[1]}" <= "3.14":
        assert f"cp{PY}-win_amd64" in f["selected_by_unwatched"]
    assert "no watched target selects it" in f["message"]
    # watching that platform makes the same kind of file an alert
    other = watch.publish(tag="cp312-cp312-win_amd64", offset=timedelta(days=95))
    code, lines, err = watch(96, "--targets", "current,3.12:win_amd64")
    assert code == 1, err
    [f] = lines
    assert f["filename"] == other.filename and f["selected_by"] == ["cp312-win_amd64"]
    assert f["severity"] == "error"


def test_on_time_and_allowed_files_do_not_alert(released, sqlite_store):
    watch = released(sqlite_store)
    assert watch(0.01)[0] == 0  # pinned within minutes of the release
    native = watch.publish(tag=native_tag(), offset=timedelta(hours=3))
    code, lines, err = watch(0.5)
    assert code == 0, err
    [f] = lines
    assert (f["filename"], f["late"], f["severity"]) == (native.filename, False, "warning")
    assert "within the 1d threshold" in f["message"]
    late = watch.publish(tag="py2.py3-none-any", offset=timedelta(days=30))
    code, lines, err = watch(31, "--late-after", "60d")
    assert code == 0 and [x["severity"] for x in lines] == ["info"], err
    assert lines[0]["filename"] == late.filename


def test_report_existing_reports_the_late_history_on_the_first_run(scenario, local_index,
                                                                   clean_pip_env, tmp_path,
                                                                   t0, sqlite_store):
    files = scenario("attack")
    watch = Watch(local_index, clean_pip_env, tmp_path, t0, sqlite_store)
    code, lines, _ = watch(100, "--watch-set", "quiet")
    assert (code, lines) == (0, [])
    code, lines, err = watch(100, "--report-existing")
    assert code == 1, err
    assert [(x["kind"], x["filename"], x["severity"]) for x in lines] == \
        [("existing-late-file", files["native"].filename, "error")]
    code, lines, _ = watch(101, "--report-existing")  # only on the release's first run
    assert (code, lines) == (0, [])


def test_a_replaced_file_and_hash_pinned_locks(released, sqlite_store, t0):
    watch = released(sqlite_store)
    pure = watch.pure
    watch.req.write_text(f"demo==1.0 --hash=sha256:{pure.sha256}\n")
    assert watch(1)[0] == 0
    # an index that lets a file be replaced in place (PyPI does not; a private index may)
    path = build_wheel(watch.work / "evil", "demo", "1.0", payload="evil")
    evil = watch.index.add(path, upload_time=t0 + timedelta(days=40), replace=True)
    code, lines, err = watch(41)
    assert code == 1, err
    [f] = lines
    assert f["kind"] == "replaced-file" and f["replaces_sha256"] == pure.sha256
    assert f["sha256"] == evil.sha256 and f["selected_by"] == ["current"]
    assert f["lock_hashes"] == 1 and f["in_lock"] is False
    assert "--require-hashes would not install it" in f["message"]


def test_lock_files_and_watch_sets(released, sqlite_store, tmp_path):
    watch = released(sqlite_store)
    lock = tmp_path / "requirements.lock"
    pure = watch.pure
    lock.write_text(f"demo==1.0 \\\n    --hash=sha256:{pure.sha256}\n")
    args = ["--lock", str(lock), "--watch-set", "locked"]
    watch.req.write_text("demo>=1  # not pinned\n")
    code, lines, err = watch(1, *args)
    assert (code, lines) == (0, []), err
    assert "not pinned to one version" in err and "1 recorded for the first time" in err
    native = watch.publish(tag=native_tag(), offset=timedelta(days=10))
    code, lines, _ = watch(11, *args)
    assert code == 1 and [x["filename"] for x in lines] == [native.filename]
    assert lines[0]["watch_set"] == "locked"
    assert lines[0]["pinned_by"].startswith(str(lock))
    # another watch set in the same store has its own baseline
    code, lines, err = watch(11, *args[:2], "--watch-set", "other")
    assert (code, lines) == (0, []), err


def test_nothing_to_watch_and_bad_options(released, sqlite_store):
    watch = released(sqlite_store)
    watch.req.write_text("demo>=1\n")
    code, _, err = watch(1)
    assert code == 2 and "nothing to watch" in err
    watch.req.write_text("demo==1.0\n")
    code, _, err = watch(1, "--since", "soon")
    assert code == 2 and "invalid duration" in err
    code, _, err = watch(1, "--store", "mysql://x/y")
    assert code == 2 and "unsupported store URL scheme" in err


# -- webhook --------------------------------------------------------------------------------------


class Hook:
    """A tiny HTTP server on 127.0.0.1 that records POSTs and answers ``status``."""

    def __init__(self):
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.gets: list[str] = []
        self.status = 204
        self.location: str | None = None  # with a 3xx status: where it redirects
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.posts.append((self.path, dict(self.headers), body))
                self.send_response(hook.status)
                if hook.location:
                    self.send_header("Location", hook.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # noqa: N802
                hook.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/si"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_webhook_receives_the_run_s_findings_as_json(released, store_url, hook):
    watch = released(store_url)
    assert watch(1, "--webhook", hook.url)[0] == 0
    assert hook.posts == []  # a baseline is not news
    native = watch.publish(tag=native_tag(), offset=timedelta(days=90))
    foreign = watch.publish(tag=foreign_tag(), offset=timedelta(days=90))
    code, lines, err = watch(91, "--webhook", hook.url)
    assert code == 1, err
    [(path, headers, body)] = hook.posts  # one request per run
    assert path == "/hooks/si"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("safe-install/")
    sent = json.loads(body)
    assert sent["watch_set"] == "default" and sent["findings"] == lines
    assert {x["filename"] for x in lines} == {native.filename, foreign.filename}


def test_webhook_headers_from_the_environment_and_slack_format(released, sqlite_store, hook):
    watch = released(sqlite_store)
    assert watch(1)[0] == 0
    native = watch.publish(tag=native_tag(), offset=timedelta(days=90))
    watch.env = dict(watch.env, WATCH_TOKEN="s3cret")
    code, lines, err = watch(91, "--webhook", hook.url, "--webhook-format", "slack",
                             "--webhook-header", "Authorization: Bearer ${WATCH_TOKEN}",
                             "--webhook-header", "X-Team: infra")
    assert code == 1, err
    [(_, headers, body)] = hook.posts
    assert headers["Authorization"] == "Bearer s3cret" and headers["X-Team"] == "infra"
    text = json.loads(body)["text"]
    assert set(json.loads(body)) == {"text"}
    assert text.startswith("safe-install watch (default): 1 finding(s), 1 error")
    assert f"*ERROR* demo 1.0 `{native.filename}`" in text
    assert "s3cret" not in err and "/hooks/si" not in err
    # a variable that is not set, a malformed header, a header without --webhook
    for extra, expected in (
            (["--webhook", hook.url, "--webhook-header", "Authorization: ${NOPE}"], "NOPE"),
            (["--webhook", hook.url, "--webhook-header", "Bad Name: x"], "Bad Name"),
            (["--webhook-header", "X-A: b"], "need --webhook")):
        code, _, err = watch(92, *extra)
        assert code == 2 and expected in err, err
    assert len(hook.posts) == 1


def test_a_redirect_to_another_origin_is_not_followed(released, sqlite_store, hook):
    other = Hook()  # another origin: it must see neither the POST nor a GET
    try:
        watch = released(sqlite_store)
        assert watch(1)[0] == 0
        foreign = watch.publish(tag=foreign_tag(), offset=timedelta(days=90))
        hook.status, hook.location = 302, other.url
        code, lines, err = watch(91, "--webhook", hook.url)
        assert code == 3, err
        assert "HTTP 302" in err and "not followed" in err
        assert other.posts == [] and other.gets == []
        hook.status, hook.location = 308, other.url
        code, lines, err = watch(92, "--webhook", hook.url)
        assert code == 3 and other.posts == [] and other.gets == [], err
        # the findings were kept: delivered when the webhook answers
        hook.status, hook.location = 200, None
        code, lines, err = watch(93, "--webhook", hook.url)
        assert code == 0, err
        assert [x["filename"] for x in json.loads(hook.posts[-1][2])["findings"]] == \
            [foreign.filename]
    finally:
        other.close()


def test_failed_webhook_exits_3_and_the_finding_comes_again(released, sqlite_store, hook):
    watch = released(sqlite_store)
    assert watch(1)[0] == 0
    foreign = watch.publish(tag=foreign_tag(), offset=timedelta(days=90))  # a warning
    hook.status = 500
    code, lines, err = watch(91, "--webhook", hook.url)
    assert code == 3, err
    assert "HTTP 500" in err and "reported again on the next run" in err
    assert "/hooks/si" not in err  # the webhook's path may be its secret
    assert [x["filename"] for x in lines] == [foreign.filename]
    hook.status = 200
    code, lines, err = watch(92, "--webhook", hook.url)
    assert code == 0, err
    assert [x["filename"] for x in lines] == [foreign.filename] and lines[0]["repeat"] is True
    assert len(hook.posts) == 2
    code, lines, _ = watch(93, "--webhook", hook.url)
    assert (code, lines) == (0, []) and len(hook.posts) == 2


def test_existing_late_files_are_kept_until_a_webhook_accepts_them(scenario, local_index,
                                                                   clean_pip_env, tmp_path,
                                                                   t0, sqlite_store, hook):
    files = scenario("attack")
    watch = Watch(local_index, clean_pip_env, tmp_path, t0, sqlite_store)
    hook.status = 503
    code, lines, err = watch(100, "--report-existing", "--webhook", hook.url)
    assert code == 1, err  # an alert: it outranks the failed delivery
    assert "HTTP 503" in err and "reported again" in err
    first = [(x["kind"], x["filename"]) for x in lines]
    assert first == [("existing-late-file", files["native"].filename)]
    code, lines, err = watch(101, "--webhook", hook.url)  # still failing: kept again
    assert [(x["kind"], x["filename"]) for x in lines] == first and len(hook.posts) == 2
    hook.status = 200
    code, lines, err = watch(102, "--webhook", hook.url)
    assert code == 1, err
    delivered = json.loads(hook.posts[-1][2])["findings"]
    assert [(x["kind"], x["filename"], x["repeat"]) for x in delivered] == \
        [("existing-late-file", files["native"].filename, True)]
    # delivered exactly once more: the next runs are quiet
    code, lines, _ = watch(103, "--webhook", hook.url)
    assert (code, lines) == (0, []) and len(hook.posts) == 3


# -- concurrent runs ------------------------------------------------------------------------------

_RUNNER = """
import io, sys
sys.path.insert(0, sys.argv[1])
from safeinstall.tool import main
out = io.StringIO()
code = main(sys.argv[2:], stdout=out, stderr=sys.stderr)
sys.stdout.write(out.getvalue())
sys.exit(code)
"""


def test_concurrent_runs_share_the_store_and_report_a_new_file_once(released, store_url,
                                                                    tmp_path):
    watch = released(store_url)
    runs = 4

    def race(day):
        results = []
        for code, out, err in run_concurrently(_RUNNER, [watch.args(day)] * runs,
                                               env=watch.env, cwd=str(tmp_path), timeout=300):
            assert "Traceback" not in err, err
            results.append((code, out.splitlines(), err))
        return results

    first = race(1)  # concurrent first runs: one baseline, no findings, no errors
    assert [(code, out) for code, out, _ in first] == [(0, [])] * runs, first
    assert sum("1 recorded for the first time" in err for _, _, err in first) == 1
    native = watch.publish(tag=native_tag(), offset=timedelta(days=90))
    second = race(91)
    reporters = [(code, out) for code, out, _ in second if out]
    assert len(reporters) == 1, second
    code, out = reporters[0]
    assert code == 1 and [json.loads(x)["filename"] for x in out] == [native.filename]
    assert sorted(code for code, _, _ in second) == [0] * (runs - 1) + [1]
