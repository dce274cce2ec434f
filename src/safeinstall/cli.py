"""``safe-install ARGS``: exactly ``pip install ARGS``, with the late-artifact and hash checks
first.

The command line layer: parses arguments, wires the library together, prints, and maps our
errors to exit codes. Only errors of our own are caught; anything else is a bug and shows as one.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from safeinstall import __version__
from safeinstall.display import SafeStream
from safeinstall.errors import EXIT_OK, EXIT_REFUSED, SafeInstallError
from safeinstall.process import interruptible

if TYPE_CHECKING:
    from safeinstall.checker import InstalledSet
    from safeinstall.finder import Finder
    from safeinstall.installer import EarlyInstall
    from safeinstall.models import UserRequirement
    from safeinstall.pipconfig import PendingPipConfig
    from safeinstall.pipoptions import CommandLine, PipSettings
    from safeinstall.policy import Policy
    from safeinstall.prefetch import PageWarmer
    from safeinstall.reqfile import ParsedRequirements
    from safeinstall.target import PendingProbe, TargetPython

HELP = """\
usage: safe-install [pip install options] [safe-install options] REQUIREMENTS...

Runs `pip install` with the same arguments, after checking every artifact that would be
installed (and every dependency): artifacts added to their release later than --late-after are
refused, and so are artifacts without a trusted hash in hash-checking mode. Then it installs
exactly the checked files, pinned by hash.

safe-install options:
  --late-after DURATION       lateness threshold relative to the release start (default 24h;
                              units s, m, h, d, w: '36h', '7d')
  --on-late refuse|warn|verify
                              what a late artifact does (default refuse); verify installs it
                              only when its content is proven identical to an on-time file
                              of its release (late-verified)
  --allow-late NAME==VERSION  accept late files of one release (repeatable);
  --allow-late sha256:HEX     or one file
  --on-unknown-upload-time refuse|warn
                              index gives no upload time (default refuse)
  --on-untrusted-hash warn|refuse
                              no --hash vouches for the artifact (default warn; always refuse
                              in hash-checking mode)
  --on-unverifiable refuse|warn
                              direct URL / VCS requirements (default refuse; local paths are
                              allowed)
  --on-multiple-indexes refuse|warn
                              a name found on several indexes with different files: the
                              dependency-confusion setup (default refuse)
  --index-for NAME=URL        take NAME only from that index (repeatable; or [index-for] in
                              safe-install.toml); other indexes are not asked about it
  --build-with-pins           build sdists with your pinned versions (name==version, with their
                              hashes) where they satisfy the build requirements
  --times-from URL            date a mirror's files by the identical file (name and sha256)
                              on this index, e.g. https://pypi.org/simple/ (repeatable)
  --report FILE               write the JSON report ('-' for stdout)
  --response-deadline SECONDS the longest one response from an index may take in all
                              (default 120; plus 1 s per 100 KiB it announces)
  --config FILE               the one settings file to read (default: safe-install.toml or
                              [tool.safe-install] in pyproject.toml, from here up to the
                              repository root, then the user's config.toml; /dev/null: none)
  --trust-store URL|off       trust on first use: remember the files of each release as first
                              seen, refuse a selected file added later (release-changed); default
                              the state store (SAFE_INSTALL_TRUST_STORE); 'off' disables
  --no-trust-store            same as --trust-store off
  -V, --version               show the version

Target: --python, else the active virtual environment (VIRTUAL_ENV), else the interpreter
safe-install runs on. An install that would change safe-install's own dependencies in the
environment it runs from is refused (exit 2): keep it in an environment of its own.

Every `pip install` option is accepted: those that change which file is selected are
implemented by safe-install, the rest are passed to pip, and the few not supported yet are
refused with a message. pip's configuration (files and PIP_* variables) is honoured.

Exit codes: 0 installed (or would install), also with warnings; 1 refused by policy;
2 usage, requirement or resolution error; 3 index or network error; 4 pip failed installing;
5 the report could not be written (the message says whether anything was installed);
70 internal error (a bug; the message says whether anything was installed); 130 Ctrl-C;
141 standard output closed early; 143 SIGTERM.
"""


def docs_location() -> str:
    """Where the documentation is on this machine: installed with safe-install (the wheel puts
    it in ``<prefix>/share/doc/safe-install``), or the ``docs`` directory of the checkout it
    runs from; else where to find it."""
    import sysconfig

    here = Path(__file__).resolve()
    for directory in (Path(sysconfig.get_path("data")) / "share" / "doc" / "safe-install",
                      Path(sys.prefix) / "share" / "doc" / "safe-install",
                      here.parents[2] / "docs"):
        if (directory / "reference.md").is_file():
            return str(directory)
    return "docs/ in safe-install's source distribution (safe-install-VERSION.tar.gz)"


def help_text() -> str:
    return HELP + ("Documentation (reference.md: every option, setting, finding and report "
                   f"field; usage.md; threat-model.md):\n  {docs_location()}\n")


def _console(stream: IO[str], width: int | None) -> Any:
    """A rich Console on ``stream`` laid out for ``width`` columns; None (no terminal, no
    COLUMNS): lines are not wrapped (see :mod:`safeinstall.layout`). It escapes outside text
    (:func:`safeinstall.display.safe_console`)."""
    from safeinstall.display import safe_console

    return safe_console(file=stream, highlight=False, soft_wrap=width is None,
                        width=width or 10_000)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or closed
        return False


class _LazyConsole:
    """The rich Console on ``stream``, made on first use: importing rich costs ~20 ms, and a
    quiet run (``-q``) that passes prints nothing. :meth:`prepare` makes it in a thread, to
    overlap with a wait for the network."""

    def __init__(self, stream: IO[str], environ: Mapping[str, str]) -> None:
        from safeinstall.layout import output_width

        self._stream = stream
        self._real: Any = None
        self._lock = threading.Lock()
        #: the width output is laid out for; None: one record per line (no terminal/COLUMNS)
        self.layout_width = output_width(stream, environ)

    @property
    def stream(self) -> IO[str]:
        return self._stream

    def real(self) -> Any:
        """The rich Console itself (for rich's own renderables, such as a progress display)."""
        return self._get()

    def _get(self) -> Any:
        with self._lock:
            if self._real is None:
                self._real = _console(self._stream, self.layout_width)
                import rich.table  # noqa: F401 - the summary's table, imported with the rest
            return self._real

    @property
    def is_terminal(self) -> bool:
        """rich's answer, without making the console where it is plainly no (not a tty, and
        none of the variables with which rich treats a stream as a terminal)."""
        if self._real is None and not _isatty(self._stream) and not any(
                os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")):
            return False
        return bool(self._get().is_terminal)

    def prepare(self) -> None:
        threading.Thread(target=self._get, name="safe-install-console", daemon=True).start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None,
         cwd: str | None = None, now: datetime | None = None) -> int:
    from safeinstall.pipconfig import PendingPipConfig

    argv = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ if environ is None else environ)
    # pip's configuration is read by a pip process: started before anything else, its start-up
    # overlaps with ours (imports are most of both). An argument that may be --isolated
    # (pip takes abbreviations) waits for the parsed command line.
    pip_config: PendingPipConfig | None = None
    if not any(a.startswith("--is") for a in argv):
        pip_config = PendingPipConfig(environ)
    # the default TLS context: loading the CA certificates takes tens of milliseconds, which
    # overlap with our own start-up from here
    tls = None if any(a in ("-h", "--help", "-V", "--version") for a in argv) \
        else _default_tls_context(environ)
    # every line written goes through display.printable: text from an index, a lock or a
    # store never reaches the terminal raw (the rich console escapes on its own)
    out: IO[str] = SafeStream(stdout or sys.stdout)  # type: ignore[assignment]
    err: IO[str] = SafeStream(stderr or sys.stderr)  # type: ignore[assignment]
    cwd = cwd or os.getcwd()
    now = now or datetime.now(timezone.utc)
    state = RunState()
    with interruptible():
        try:
            return _main(argv, environ, out, err, cwd, now, pip_config, tls, state)
        finally:
            if state.pip_config is not None:
                state.pip_config.close()
            if state.early is not None:
                state.early.close()
            if state.probe is not None:
                state.probe.close()


@dataclass
class RunState:
    """What a run has done so far (mutable, for the messages of a run that ends early): the
    processes it started, and whether pip was asked to install."""

    pip_config: PendingPipConfig | None = None
    early: InstalledSet | None = None
    probe: PendingProbe | None = None
    install_started: bool = False
    installed: bool = False

    def outcome(self) -> str:
        """Whether anything was installed, as the last line of a run that did not finish."""
        if self.installed:
            return "the checked artifacts were installed"
        if self.install_started:
            return ("pip was installing the checked artifacts: some may be installed; check "
                    "the environment (pip list)")
        return "nothing was installed"


def _main(argv: list[str], environ: dict[str, str], out: IO[str], err: IO[str], cwd: str,
          now: datetime, pip_config: PendingPipConfig | None, tls: Future[Any] | None,
          state: RunState) -> int:
    from safeinstall.display import printable
    from safeinstall.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, ReportError
    from safeinstall.pipconfig import PendingPipConfig
    from safeinstall.process import interrupt_code, interrupt_name, silence_stdout

    state.pip_config = pip_config
    policy: Policy | None = None
    report_dest: str | None = None
    dry_run = "--dry-run" in argv
    try:
        from safeinstall.pipoptions import parse_command_line

        argv, trust_store = take_trust_options(argv, environ)
        cmd = parse_command_line(argv)
        if cmd.get("help"):
            out.write(help_text())
            return EXIT_OK
        if cmd.get("version"):
            out.write(f"safe-install {__version__}\n")
            return EXIT_OK
        from safeinstall.logs import configure_logging  # -v: why each file lost, on stderr
        configure_logging(int(cmd.get("verbose", 0) or 0), err, environ)  # type: ignore[call-overload]
        if pip_config is None or cmd.get("isolated"):
            if pip_config is not None:
                pip_config.close()
            pip_config = state.pip_config = PendingPipConfig(
                environ, isolated=bool(cmd.get("isolated")))
        python = _early_python(cmd, environ)
        state.early = _early_installed(cmd, environ, python)
        if python:  # the target interpreter reports its tags while we start
            from safeinstall.target import PendingProbe

            state.probe = PendingProbe(python)
        from safeinstall.settings import check_report_destination, load_settings

        ours = load_settings(cmd, environ, Path(cwd))
        policy = ours.policy
        # before anything is installed: a report that cannot be written must not turn an
        # install into an error afterwards
        check_report_destination(ours.report, ours.sources.get("report", "--report"))
        report_dest = ours.report
        return _run(cmd, ours, environ, out, _LazyConsole(err, environ), cwd, now, trust_store,
                    pip_config, state.early, state.probe, tls, state=state)
    except SafeInstallError as exc:
        from safeinstall.results import CheckRefused

        extra = []
        if isinstance(exc, CheckRefused):
            extra.append(exc.result)
            for f in exc.result.findings:
                if f.severity == "error" and f.hint:
                    err.write(printable(
                        f"REFUSED {exc.result.name} {exc.result.version} ({f.kind}): "
                        f"{f.message}") + "\n")
                    err.writelines(f"    {printable(line)}\n" for line in f.hint.splitlines())
        err.write(f"safe-install: error: {printable(exc, keep_newlines=True)}\n")
        if exc.exit_code == EXIT_REFUSED or isinstance(exc, ReportError) \
                or state.install_started:
            err.write(f"safe-install: {state.outcome()}.\n")
        if report_dest and not isinstance(exc, ReportError):
            from safeinstall.policy import Policy
            from safeinstall.report import report_json, write_report

            try:
                write_report(report_json(None, policy=policy or Policy(), dry_run=dry_run,
                                         exit_code=exc.exit_code, outcome="error",
                                         extra_packages=extra, error=str(exc)),
                             report_dest, out)
            except ReportError as report_exc:
                err.write(f"safe-install: error: {printable(report_exc, keep_newlines=True)}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        err.write(f"safe-install: {interrupt_name(exc)}; {state.outcome()} by this run.\n")
        return interrupt_code(exc)
    except BrokenPipeError:  # the reader of our output went away (| head)
        silence_stdout(out)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - a bug: say so, and what it left behind
        _internal_error(exc, err, environ, "safe-install")
        err.write(f"safe-install: {state.outcome()}.\n")
        return EXIT_INTERNAL


def _internal_error(exc: BaseException, err: IO[str], environ: Mapping[str, str],
                    prog: str) -> None:
    """An unexpected exception: one line naming it (escaped), the traceback only with
    ``SAFE_INSTALL_DEBUG=1``."""
    from safeinstall.display import printable

    err.write(f"{prog}: internal error (a bug in safe-install, exit 70): "
              f"{exc.__class__.__name__}: {printable(exc)}\n")
    if environ.get("SAFE_INSTALL_DEBUG"):
        import traceback

        err.write(printable("".join(traceback.format_exception(exc)), keep_newlines=True))
    else:
        err.write(f"{prog}: run again with SAFE_INSTALL_DEBUG=1 to see where, and report it\n")


def _early_python(cmd: CommandLine, environ: Mapping[str, str]) -> str | None:
    """The target interpreter as far as it is known before pip's configuration is read:
    ``--python``, else the active virtual environment (checked again with the final
    settings; an error about it is left to them)."""
    from safeinstall.target import active_environment

    if cmd.get("python"):
        return str(cmd.get("python"))
    try:
        return active_environment(environ)
    except SafeInstallError:
        return None


def _early_installed(cmd: CommandLine, environ: Mapping[str, str],
                     python: str | None) -> InstalledSet | None:
    """What is installed in the target the command line names, listed from before pip's
    configuration is known (checked against the final settings; replaced if they differ)."""
    if cmd.get("ignore_installed") or cmd.get("target"):
        return None
    from safeinstall.checker import InstalledSet

    return InstalledSet(python, user=bool(cmd.get("user")), environ=environ)


def _run(cmd: Any, ours: Any, environ: dict[str, str], out: IO[str], console: Any, cwd: str,
         now: datetime, trust_store: str | None = None,
         pip_config: PendingPipConfig | None = None,
         early_installed: InstalledSet | None = None,
         early_probe: PendingProbe | None = None,
         tls: Future[Any] | None = None, *, state: RunState | None = None) -> int:
    """The checked run. The final ``pip install`` (:class:`~safeinstall.installer.EarlyInstall`)
    starts first thing, before the heavy imports, since its start-up is the longest wait of a
    small install, if pip's configuration is known by then (otherwise after it is read);
    it only ever gets the checked list, and is stopped on any other outcome."""
    from safeinstall.pipoptions import effective_settings

    early_install: EarlyInstall | None = None
    try:
        if pip_config is not None and pip_config.ready():
            first = effective_settings(cmd, pip_config.result(), cwd, now=now,
                                       environ=environ)
            if not first.dry_run:
                from safeinstall.installer import start_install

                early_install = start_install(first.python, first, environ, cmd.passthrough,
                                              stdout_to_stderr=ours.report == "-")
        return _check_and_install(cmd, ours, environ, out, console, cwd, now, trust_store,
                                  pip_config, early_installed, early_probe, early_install,
                                  tls or _default_tls_context(environ), state or RunState())
    finally:
        if early_install is not None:
            early_install.cancel()


def _check_and_install(cmd: Any, ours: Any, environ: dict[str, str], out: IO[str],
                       console: Any, cwd: str, now: datetime, trust_store: str | None,
                       pip_config: PendingPipConfig | None,
                       early_installed: InstalledSet | None,
                       early_probe: PendingProbe | None,
                       early_install: EarlyInstall | None,
                       tls: Future[Any], state: RunState) -> int:
    from safeinstall.pipoptions import check_dist_restriction
    from safeinstall.settings import run_cache_dir

    inputs = load_inputs(cmd, environ, cwd, now, pip_config=pip_config)
    settings = inputs.settings
    check_dist_restriction(settings)
    target = default_target(settings, early_probe)
    from safeinstall.environments import check_externally_managed, check_user_install

    check_user_install(settings, target)
    check_externally_managed(settings, target)
    inputs = inputs_for_target(inputs, target, cwd)
    settings, user_reqs = inputs.settings, list(inputs.user_reqs)
    session = open_session(settings, default_tls=tls, urls=ours.times_from)
    finder = make_finder(settings, session, index_for=ours.index_for, times_from=ours.times_from)
    cache_dir = run_cache_dir(ours, environ, no_cache=bool(cmd.get("no_cache_dir")))
    # the pages the check will ask for first are fetched while the rest of it is imported
    pages = start_page_fetches(finder, user_reqs, target, cache_dir, no_deps=settings.no_deps)
    try:
        return _checked(cmd, ours, environ, out, console, cwd, now, trust_store,
                        early_installed, early_install, inputs, target, session, finder,
                        cache_dir, state)
    finally:
        pages.close()


def start_page_fetches(finder: Finder, user_reqs: Sequence[Any], target: TargetPython,
                       cache_dir: Path | None, *, no_deps: bool) -> PageWarmer:
    """Fetch, in the background, the index pages of the named requirements that apply to
    ``target`` and (unless ``no_deps``) of their dependencies in the previous run (see
    :class:`safeinstall.prefetch.PageWarmer`)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from safeinstall.prefetch import DependencyHints, PageWarmer

    names: list[str] = []
    environment = {**target.environment, "extra": ""}
    for ur in user_reqs:
        if ur.editable:
            continue
        try:
            req = Requirement(ur.text)
        except InvalidRequirement:
            continue  # reported by the check itself
        if req.url:
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(environment):
                continue
        except Exception:  # noqa: BLE001, S110 - a marker it cannot evaluate: fetch the page
            pass
        names.append(req.name)
        finder.expect(req.name, req.specifier)  # (memory: keep only the versions it admits)
    hints = None if no_deps else DependencyHints.for_target(cache_dir, target)
    return PageWarmer(finder.project, names, hints)


def _checked(cmd: Any, ours: Any, environ: dict[str, str], out: IO[str], console: Any,
             cwd: str, now: datetime, trust_store: str | None,
             early_installed: InstalledSet | None, early_install: EarlyInstall | None,
             inputs: RunInputs, target: TargetPython, session: Any, finder: Finder,
             cache_dir: Path | None, state: RunState) -> int:
    from safeinstall.artifacts import ArtifactStore
    from safeinstall.checker import installed_dists, run_check
    from safeinstall.progress import format_size
    from safeinstall.report import render_summary, report_json, write_report
    from safeinstall.trust import apply_trust, open_trust

    settings, parsed, notes = inputs.settings, inputs.parsed, list(inputs.notes)
    user_reqs = list(inputs.user_reqs)
    store = ArtifactStore(session, cache_dir)
    try:
        # dry runs record release snapshots too (see safeinstall.trust: recording is safe)
        trust = open_trust(trust_store, environ=environ, cwd=cwd, now=now, write=True)
    except SafeInstallError as exc:
        from safeinstall.store import StoreRowError, StoreSchemaError

        # a store the user chose must work; a store from a newer safe-install (or damaged
        # rows) is refused rather than silently turning trust on first use off
        if trust_store or isinstance(exc, (StoreSchemaError, StoreRowError)):
            store.close()
            session.close()
            raise
        # the default store is a convenience: an unwritable home must not stop installs
        console.print(f"[yellow]warning[/] trust on first use is off for this run: {exc}")
        trust = None
    workdir = Path(tempfile.mkdtemp(prefix="safe-install-run-"))
    interactive = settings.verbosity >= 0 and console.is_terminal
    status = _progress_for(settings.verbosity, interactive, console)
    installed: InstalledSet | None = None
    late_install: EarlyInstall | None = None  # started here: the caller did not start one
    try:
        status.start()
        status.stage("resolving", detail=f"and checking {len(user_reqs)} requirement(s)")

        def progress(msg: str) -> None:
            if msg.startswith("resolved "):
                status.advance()
            status.message(msg)

        if settings.verbosity >= 0 and not interactive:
            console.prepare()  # the summary's console, made while the check waits for pages
        installed = installed_dists(settings, environ, early_installed)
        if early_install is None and not settings.dry_run:
            from safeinstall.installer import start_install

            early_install = late_install = start_install(
                settings.python, settings, environ, cmd.passthrough,
                stdout_to_stderr=ours.report == "-")
        result = run_check(
            settings=settings, policy=ours.policy, target=target, user_requirements=user_reqs,
            parsed=parsed, finder=finder, store=store, environ=environ, now=now, cwd=cwd,
            installed=installed, progress=progress, notes=notes,
        )
        if trust is not None:
            try:
                result = apply_trust(result, trust, ours.policy, finder, now=now)
            except SafeInstallError as exc:
                from safeinstall.store import StoreRowError, StoreSchemaError

                if trust_store or isinstance(exc, (StoreSchemaError, StoreRowError)):
                    raise
                # like a default store that cannot be opened (e.g. a read-only file)
                console.print("[yellow]warning[/] trust on first use is off for this run: "
                              f"{exc}")
        status.stop()
        if settings.verbosity >= 0 or result.relaxations or any(
                f.severity != "info" for _p, f in result.findings):
            render_summary(result, dry_run=settings.dry_run, console=console,
                           verbose=settings.verbosity, width=console.layout_width)
        if result.refused:
            code = EXIT_REFUSED
            console.print("[bold red]safe-install: refused by policy; nothing was installed.[/]")
            if ours.report:
                write_report(report_json(result, policy=ours.policy, dry_run=settings.dry_run,
                                         exit_code=code, outcome="refused"), ours.report, out)
            return code
        _protect_own_environment(result, settings, target, console)
        if settings.dry_run:
            if ours.report:
                write_report(report_json(result, policy=ours.policy, dry_run=True,
                                         exit_code=EXIT_OK, outcome="would-install"),
                             ours.report, out)
            return EXIT_OK
        from safeinstall.installer import install, prepare

        status = _progress_for(settings.verbosity, interactive, console)
        status.start()
        files = [f for f in (getattr(result.plan.get(p.name), "file", None)
                             for p in result.packages
                             if p.decision == "install" and not p.build_time) if f is not None]
        sizes = [f.size for f in files]
        total = sum(s for s in sizes if s) if files and None not in sizes else None
        if files:
            status.stage("downloading", total=total, detail=f"{len(files)} file(s)" + (
                f", {format_size(total)}" if total else ""))
        plan = prepare(result, store, settings, environ, workdir, progress,
                       on_bytes=status.advance)
        if plan.wheels or plan.editables:
            count = len(plan.wheels) + len(plan.editables)
            status.stage("installing", detail=f"{count} checked artifact(s)")
            state.install_started = True
            install(plan, result, settings, environ, workdir, cmd.passthrough,
                    stdout_to_stderr=ours.report == "-", early=early_install)
            state.installed = True
        status.stop()
        if plan.wheels or plan.editables:
            if settings.verbosity >= 0:
                console.print(f"safe-install: installed {len(plan.wheels) + len(plan.editables)}"
                              " checked artifact(s).")
        elif settings.verbosity >= 0:
            console.print("safe-install: nothing to install; all requirements already satisfied.")
        if ours.report:
            write_report(report_json(result, policy=ours.policy, dry_run=False,
                                     exit_code=EXIT_OK, outcome="installed"), ours.report, out)
        return EXIT_OK
    finally:
        if late_install is not None:
            late_install.cancel()
        if installed is not None:
            installed.close()
        status.stop()
        store.close()
        if trust is not None:
            trust.close()
        shutil.rmtree(workdir, ignore_errors=True)
        session.close()


def _protect_own_environment(result: Any, settings: PipSettings, target: TargetPython,
                             console: Any) -> None:
    """Refuse (exit 2) an install into the environment safe-install runs from that would
    change one of its own dependencies; a dry run says that the install would be refused."""
    from safeinstall.environments import own_changes, refuse_own_changes, targets_own_environment

    if not targets_own_environment(settings, target):
        return
    changes = own_changes((p.name, p.version) for p in result.packages
                          if p.decision == "install" and not p.build_time)
    if not changes:
        return
    if settings.dry_run:
        console.print("[yellow]warning[/] the install would be refused: it would change "
                      "safe-install's own environment ("
                      + ", ".join(c.describe() for c in changes)
                      + "); install safe-install in an environment of its own and pass "
                        "--python (see 'Install safe-install itself' in README.md)")
        return
    refuse_own_changes(changes, target)


def _progress_for(verbosity: int, interactive: bool, console: Any) -> Any:
    """Progress by stage (:mod:`safeinstall.progress`): a rich display on a terminal, one line
    per stage without one, nothing with -q."""
    from safeinstall.progress import Lines, Silent, Terminal

    if verbosity < 0:
        return Silent()
    if interactive:
        return Terminal(console.real())
    return Lines(console.stream, verbose=verbosity > 0, width=console.layout_width)


# -- the inputs of a checked run, shared with safe-install-tool's lock/guard/audit ---------------


@dataclass(frozen=True)
class RunInputs:
    """What a checked run resolves: pip's settings after the requirement files' own options,
    the requirements (command line, -e, -r files), notes, and the pylock.toml files given to
    -r, which are read per target (:func:`inputs_for_target`)."""

    settings: PipSettings
    parsed: ParsedRequirements
    user_reqs: tuple[UserRequirement, ...]
    notes: tuple[str, ...]
    pylock_files: tuple[str, ...] = ()
    #: paths in a pylock.toml may leave its directory (SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE)
    allow_lock_paths_outside: bool = False


def load_inputs(cmd: CommandLine, environ: Mapping[str, str], cwd: str,
                now: datetime, *, pip_config: PendingPipConfig | None = None) -> RunInputs:
    """pip's configuration and ``cmd`` merged, requirement files read, as ``pip install``
    (``pip_config``: pip's configuration, already being read)."""
    from safeinstall.models import UserRequirement
    from safeinstall.pipoptions import effective_settings, read_pip_config, with_file_options
    from safeinstall.reqfile import parse_requirement_files

    config = pip_config.result() if pip_config is not None else \
        read_pip_config(environ, isolated=bool(cmd.get("isolated")))
    settings = effective_settings(cmd, config, cwd, now=now, environ=environ)
    pylocks: tuple[str, ...] = ()
    if any("pylock" in p for p in settings.requirement_files):  # the lock module is heavy
        from safeinstall.locks.model import is_pylock_name, split_extras

        pylocks = tuple(p for p in settings.requirement_files
                        if "://" not in p and is_pylock_name(split_extras(p)[0]))
    parsed = parse_requirement_files(
        [_abs(p, cwd) for p in settings.requirement_files if p not in pylocks],
        [_abs(p, cwd) for p in settings.constraint_files],
        environ=environ,
    )
    settings, notes = with_file_options(settings, parsed.options)
    if settings.python and cmd.get("python") is None and config.get("python") is None:
        notes.insert(0, f"target: the active virtual environment {settings.python} (VIRTUAL_ENV);"
                        " pass --python to choose another interpreter")

    user_reqs = [UserRequirement(text, "command line", base_dir=cwd) for text in cmd.requirements]
    user_reqs += [UserRequirement(e, "command line", editable=True, base_dir=cwd)
                  for e in settings.editables]
    user_reqs += [UserRequirement(line.text, line.source, tuple(line.hashes), line.editable,
                                  line.base_dir) for line in parsed.requirements]
    allow_outside = environ.get("SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE", "").strip().lower() \
        in ("1", "true", "yes", "on")
    return RunInputs(settings, parsed, tuple(user_reqs), tuple(notes), pylocks, allow_outside)


def inputs_for_target(inputs: RunInputs, target: TargetPython, cwd: str) -> RunInputs:
    """Read the pylock.toml files for ``target`` (as pip 26 does for ``-r pylock.toml``): the
    selected packages become hash-pinned requirements, and each package's index is searched
    too, so that its files can be dated."""
    if not inputs.pylock_files:
        return inputs
    from safeinstall.locks.pylock import pylock_requirements
    from safeinstall.selection import FormatControl

    settings = inputs.settings
    fc = FormatControl.from_options(settings.only_binary, settings.no_binary)
    reqs = list(inputs.user_reqs)
    notes = list(inputs.notes)
    extra: list[str] = []
    from safeinstall.urls import canonical_index_url, redact_url

    configured = {canonical_index_url(u) for u in settings.index_urls}
    for location in inputs.pylock_files:
        selection = pylock_requirements(location, target=target, cwd=cwd,
                                        sdist_only=_sdist_only(fc, location, cwd),
                                        allow_outside=inputs.allow_lock_paths_outside)
        reqs += selection.requirements
        notes += selection.notes
        for url in selection.indexes:
            if canonical_index_url(url) not in configured and url not in extra:
                extra.append(url)
    if extra:
        # an index named by a lock is data, not an authority: it is not searched
        notes.append("the lock names indexes that are not configured: "
                     + ", ".join(redact_url(u) for u in extra) + "; its files are dated on "
                     "the configured indexes only (add one with --extra-index-url to use it)")
    return RunInputs(settings, inputs.parsed, tuple(reqs), tuple(notes), ())


def _sdist_only(fc: Any, location: str, cwd: str) -> list[str]:
    """Names for which only sdists are allowed (pip's prefer_sdist_predicate for pylock)."""
    from safeinstall.locks.model import split_extras
    from safeinstall.locks.reader import read_lock

    path = _abs(split_extras(location)[0], cwd)
    try:
        names = [r.name for r in read_lock(path, fmt="pylock").releases]
    except Exception:  # the real read reports errors with context
        return []
    return [n for n in names if "binary" not in fc.allowed(n) and "source" in fc.allowed(n)]


def default_target(settings: PipSettings, early: PendingProbe | None = None) -> TargetPython:
    """The interpreter pip would install for: ``--python``, or this one; restricted by
    ``--platform``/``--python-version``/``--implementation``/``--abi`` when given.
    ``early``: a probe of the command line's ``--python``, already running."""
    from safeinstall.target import current_target, foreign_target, probe_interpreter

    if settings.python and early is not None and early.executable == settings.python:
        target = early.result()
    else:
        target = probe_interpreter(settings.python) if settings.python else current_target()
    if settings.foreign:
        target = foreign_target(python_version=settings.python_version,
                                platforms=settings.platforms or None,
                                implementation=settings.implementation,
                                abis=settings.abis or None, base=target)
    return target


def open_session(settings: PipSettings, default_tls: Future[Any] | None = None, *,
                 urls: Sequence[str] = ()) -> Any:
    """The run's HTTP client (see :mod:`safeinstall.session`): pip's trusted hosts,
    certificates (``--cert``, ``--client-cert``), proxy, timeout and credentials, with pip's
    ``--retries`` (see :mod:`safeinstall.http`). ``default_tls``: the default TLS context,
    already being built (from :func:`_default_tls_context`); ``urls``: locations read besides
    pip's indexes and find-links (``--times-from``)."""
    from safeinstall.http import HttpClient
    from safeinstall.session import LightSession, Session, light_allowed
    from safeinstall.tls import context_for

    default = default_tls.result() if default_tls is not None and not settings.cert else None
    context = context_for(settings.cert, settings.client_cert, default)
    trusted = tuple(settings.trusted_hosts)

    def full() -> Any:
        from unearth.auth import MultiDomainBasicAuth
        from unearth.fetchers.sync import PyPIClient

        extra: dict[str, Any] = {"proxy": settings.proxy} if settings.proxy else {}
        session = PyPIClient(trusted_hosts=trusted, verify=context, timeout=settings.timeout,
                             trust_env=True, **extra)
        # never prompt for a password without a terminal (a 401 would otherwise read stdin)
        prompting = bool(sys.stdin and sys.stdin.isatty())
        session.auth = MultiDomainBasicAuth(prompting=prompting,
                                            index_urls=list(settings.index_urls))
        return session

    why_not = light_allowed(proxy=settings.proxy,
                            urls=[*settings.index_urls, *settings.find_links, *urls])
    light = None if why_not else LightSession(context, timeout=settings.timeout,
                                              trusted_hosts=trusted,
                                              deadline=settings.response_deadline)
    return HttpClient(Session(full, light), retries=settings.retries, trusted_hosts=trusted,
                      deadline=settings.response_deadline)


def _default_tls_context(environ: Mapping[str, str]) -> Future[Any]:
    """The default TLS context for ``environ`` (:func:`safeinstall.tls.default_context`),
    started first thing in a run: loading the CA certificates runs in a thread, mostly
    without the GIL, while the rest of safe-install starts (tens of milliseconds)."""
    fut: Future[Any] = Future()

    def run() -> None:
        try:
            from safeinstall.tls import default_context

            fut.set_result(default_context(environ))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            fut.set_exception(exc)

    threading.Thread(target=run, name="safe-install-tls", daemon=True).start()
    return fut


def make_finder(settings: PipSettings, session: Any, finder_class: type[Finder] | None = None,
                **kwargs: Any) -> Finder:
    from safeinstall.finder import Finder

    cls = finder_class or Finder
    return cls(index_urls=settings.index_urls, find_links=settings.find_links,
               trusted_hosts=settings.trusted_hosts, session=session, **kwargs)


def take_trust_options(argv: Sequence[str], environ: Mapping[str, str]) -> \
        tuple[list[str], str | None]:
    """Remove ``--trust-store URL|off`` and ``--no-trust-store`` from ``argv`` (they are not
    pip's) and return the trust store to use: ``None`` when off, else a store URL (``""`` for
    the default state store). ``SAFE_INSTALL_TRUST_STORE`` sets the default."""
    from safeinstall.errors import UsageError

    value: str | None = environ.get("SAFE_INSTALL_TRUST_STORE", "")
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest += args[i - 1:]
            break
        if arg == "--no-trust-store":
            value = "off"
        elif arg == "--trust-store" or arg.startswith("--trust-store="):
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError("option --trust-store requires a value",
                                 hint="a store URL or path, or 'off'")
        else:
            rest.append(arg)
    if value is not None and value.strip().lower() in ("off", "no", "false", "0", "none"):
        return rest, None
    return rest, value


def _abs(path: str, cwd: str) -> str:
    if "://" in path:
        return path
    return path if os.path.isabs(path) else os.path.join(cwd, path)


def tune_gc() -> None:
    """For the process entry points only. Index pages of popular projects parse into hundreds
    of thousands of small dicts and strings that live for the whole run and hold no cycles;
    with CPython's default thresholds the cyclic collector rescans them again and again (a
    sixth to a quarter of a large run's CPU). Collect the youngest generation 140x less often,
    and full collections rarely; memory freed by reference counting is unaffected."""
    import gc

    gc.set_threshold(100_000, 50, 1000)


def leave(code: int) -> NoReturn:
    """End an entry point's process with ``code``. Whatever is still alive now lives until the
    process ends: the collector need not look at it again while the interpreter shuts down (a
    full collection over every parsed index page, tens of milliseconds). Objects are still
    finalised and files closed as usual. Background threads still busy are not waited for
    beyond a moment (:func:`safeinstall.process.end_process`)."""
    import gc

    from safeinstall.process import end_process

    gc.freeze()
    end_process(code)
    sys.exit(code)  # not reached


def console_main() -> None:
    tune_gc()
    leave(main())
