"""The checked install (``safe-install ARGS``) as one object, :class:`Run`: its inputs, what it
started, and one :class:`contextlib.ExitStack` that owns every resource it opens -- pip
processes and listings started early (:mod:`safeinstall.background`), the HTTP session, the
finder's page fetches, the artifact cache, the trust store, the work directory and the progress
display -- so that however the run ends, each is closed once, in reverse order.

The stages, in order (:meth:`Run.execute`): read the inputs and settle the target
(:mod:`safeinstall.wiring`), check (:func:`safeinstall.checker.run_check`, then trust on first
use), summarise, and unless refused or a dry run, download, verify and install exactly the
checked files (:mod:`safeinstall.installer`). The final ``pip install`` starts early and only
ever gets the checked list.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from safeinstall.background import Background
from safeinstall.errors import EXIT_OK, EXIT_REFUSED, SafeInstallError

if TYPE_CHECKING:
    import ssl

    from safeinstall.artifacts import ArtifactCache
    from safeinstall.cmdline import CommandLine
    from safeinstall.installed_dists import InstalledSet
    from safeinstall.installer import EarlyInstall
    from safeinstall.pipconfig import PendingPipConfig
    from safeinstall.pipoptions import PipSettings
    from safeinstall.progress import Silent
    from safeinstall.results import CheckResult
    from safeinstall.settings import Settings
    from safeinstall.target import PendingProbe, TargetPython
    from safeinstall.trust import TrustStore

C = TypeVar("C", bound=contextlib.AbstractContextManager[Any])


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


class LazyConsole:
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
        """Make the console in the background (nothing to stop: the thread ends on its own)."""
        Background.thread("console", self._get)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def early_python(cmd: CommandLine, environ: Mapping[str, str]) -> str | None:
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


class Run:
    """One checked install. Use it as a context manager: leaving it closes everything the run
    started (:attr:`stack`). :meth:`outcome` says what it did so far, for the last line of a
    run that did not finish."""

    def __init__(self, *, environ: dict[str, str], out: IO[str], err: IO[str], cwd: str,
                 now: datetime, pip_config: PendingPipConfig | None = None,
                 tls: Background[ssl.SSLContext] | None = None) -> None:
        self.stack = contextlib.ExitStack()
        self.environ, self.out, self.err, self.cwd, self.now = environ, out, err, cwd, now
        #: pip's configuration, being read (None: not started yet)
        self.pip_config = self.adopt(pip_config) if pip_config is not None else None
        self.tls = self.adopt(tls) if tls is not None else None
        self.early_installed: InstalledSet | None = None
        self.probe: PendingProbe | None = None
        #: the final ``pip install``, started before the check ends (None: not started)
        self.pip_install: EarlyInstall | None = None
        self.install_started = False
        self.installed = False

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def adopt(self, resource: C) -> C:
        """``resource`` (a context manager) is closed when the run ends."""
        self.stack.enter_context(resource)
        return resource

    def outcome(self) -> str:
        """Whether anything was installed, as the last line of a run that did not finish."""
        if self.installed:
            return "the checked artifacts were installed"
        if self.install_started:
            return ("pip was installing the checked artifacts: some may be installed; check "
                    "the environment (pip list)")
        return "nothing was installed"

    # -- start-up -------------------------------------------------------------------------------

    def start_early(self, cmd: CommandLine) -> None:
        """Start what the command line alone allows: pip's configuration (again, if it may be
        ``--isolated``), the listing of what is installed in the target it names, and the
        probe of its interpreter (each checked against the final settings later)."""
        from safeinstall.installed_dists import InstalledSet
        from safeinstall.pipconfig import PendingPipConfig

        if self.pip_config is None or cmd.get("isolated"):
            if self.pip_config is not None:
                self.pip_config.close()
            self.pip_config = self.adopt(PendingPipConfig(
                self.environ, isolated=bool(cmd.get("isolated"))))
        python = early_python(cmd, self.environ)
        if not (cmd.get("ignore_installed") or cmd.get("target")):
            self.early_installed = self.adopt(InstalledSet(
                python, user=bool(cmd.get("user")), environ=self.environ))
        if python:  # the target interpreter reports its tags while we start
            from safeinstall.target import PendingProbe

            self.probe = self.adopt(PendingProbe(python))

    def _start_install(self, settings: PipSettings, cmd: CommandLine, ours: Settings) -> None:
        if self.pip_install is None and not settings.dry_run:
            from safeinstall.installer import start_install

            pip = start_install(settings.python, settings, self.environ, cmd.passthrough,
                                stdout_to_stderr=ours.report == "-")
            self.pip_install = self.adopt(pip) if pip is not None else None

    # -- the run --------------------------------------------------------------------------------

    def execute(self, cmd: CommandLine, ours: Settings, trust_store: str | None) -> int:
        """The checked run; everything it started is closed when it returns or raises. The
        final ``pip install`` (:class:`~safeinstall.installer.EarlyInstall`) starts first
        thing, before the heavy imports, since its start-up is the longest wait of a small
        install, if pip's configuration is known by then (otherwise after it is read); it
        only ever gets the checked list, and is stopped on any other outcome."""
        with self.stack:
            return self._execute(cmd, ours, trust_store)

    def _execute(self, cmd: CommandLine, ours: Settings, trust_store: str | None) -> int:
        from safeinstall.pipoptions import check_dist_restriction, effective_settings
        from safeinstall.settings import run_cache_dir
        from safeinstall.wiring import (
            default_target,
            default_tls_context,
            inputs_for_target,
            load_inputs,
            make_finder,
            open_session,
            page_worker,
            start_page_fetches,
        )

        environ, cwd, now = self.environ, self.cwd, self.now
        if self.pip_config is not None and self.pip_config.ready():
            self._start_install(effective_settings(cmd, self.pip_config.result(), cwd, now=now,
                                                   environ=environ), cmd, ours)
        if self.tls is None:
            self.tls = self.adopt(default_tls_context(environ))
        console = LazyConsole(self.err, environ)
        inputs = load_inputs(cmd, environ, cwd, now, pip_config=self.pip_config)
        settings = inputs.settings
        check_dist_restriction(settings)
        target = default_target(settings, self.probe)
        from safeinstall.environments import check_externally_managed, check_user_install

        check_user_install(settings, target)
        check_externally_managed(settings, target)
        inputs = inputs_for_target(inputs, target, cwd)
        settings, user_reqs = inputs.settings, list(inputs.user_reqs)
        session = open_session(settings, default_tls=self.tls, urls=ours.times_from)
        self.stack.callback(session.close)
        finder = make_finder(settings, session, index_for=ours.index_for,
                             times_from=ours.times_from)
        cache_dir = run_cache_dir(ours, environ, no_cache=bool(cmd.get("no_cache_dir")))
        # the look-ahead's threads start while nothing else runs (issue 21), then the pages
        # the check will ask for first are fetched while the rest of it is imported
        from safeinstall.prefetch import start_workers

        workers = start_workers()
        self.stack.callback(workers.shutdown, wait=False, cancel_futures=True)
        pages = start_page_fetches(finder, user_reqs, target, cache_dir,
                                   no_deps=settings.no_deps,
                                   constraints=inputs.parsed.constraints)
        self.stack.callback(pages.close)
        # a large lock's pages are fetched and read by child processes (issue 21)
        pool = page_worker(settings, environ, urls=ours.times_from,
                           projects=finder.expected_projects())
        if pool is not None:
            pool.start()
            self.stack.callback(pool.close)
            finder.page_worker = pool

        from safeinstall.artifacts import ArtifactCache
        from safeinstall.checker import run_check
        from safeinstall.installed_dists import installed_dists
        from safeinstall.report import render_summary, report_json, write_report
        from safeinstall.trust import apply_trust

        cache = ArtifactCache(session, cache_dir)
        self.stack.callback(cache.close)
        # dry runs record release snapshots too (see safeinstall.trust: recording is safe)
        trust = self._open_trust(trust_store, console)
        workdir = Path(tempfile.mkdtemp(prefix="safe-install-run-"))
        self.stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        interactive = settings.verbosity >= 0 and console.is_terminal
        status = _progress_for(settings.verbosity, interactive, console)
        self.stack.callback(status.stop)
        status.start()
        status.stage("resolving", detail=f"and checking {len(user_reqs)} requirement(s)")

        def progress(msg: str) -> None:
            if msg.startswith("resolved "):
                status.advance()
            status.message(msg)

        if settings.verbosity >= 0 and not interactive:
            console.prepare()  # the summary's console, made while the check waits for pages
        installed = self.adopt(installed_dists(settings, environ, self.early_installed))
        self._start_install(settings, cmd, ours)
        result = run_check(
            settings=settings, policy=ours.policy, target=target, user_requirements=user_reqs,
            parsed=inputs.parsed, finder=finder, cache=cache, environ=environ, now=now,
            cwd=cwd, installed=installed, progress=progress, notes=list(inputs.notes),
            workers=workers,
        )
        if trust is not None:
            try:
                result = apply_trust(result, trust, ours.policy, finder, now=now)
            except SafeInstallError as exc:
                self._trust_failed(exc, trust_store, console)
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
                                         exit_code=code, outcome="refused"), ours.report,
                             self.out)
            return code
        _protect_own_environment(result, settings, target, console)
        if settings.dry_run:
            if ours.report:
                write_report(report_json(result, policy=ours.policy, dry_run=True,
                                         exit_code=EXIT_OK, outcome="would-install"),
                             ours.report, self.out)
            return EXIT_OK
        return self._install(result, cache, settings, cmd, ours, workdir,
                             _progress_for(settings.verbosity, interactive, console), progress,
                             console)

    def _install(self, result: CheckResult, cache: ArtifactCache, settings: PipSettings,
                 cmd: CommandLine, ours: Settings, workdir: Path, status: Silent,
                 progress: Callable[[str], None], console: LazyConsole) -> int:
        """Download, verify and install the checked files (``status``: a new progress
        display, stopped here)."""
        from safeinstall.installer import install, prepare
        from safeinstall.progress import format_size
        from safeinstall.report import report_json, write_report

        self.stack.callback(status.stop)
        status.start()
        files = [f for f in (getattr(result.plan.get(p.name), "file", None)
                             for p in result.packages
                             if p.decision == "install" and not p.build_time) if f is not None]
        sizes = [f.size for f in files]
        total = sum(s for s in sizes if s) if files and None not in sizes else None
        if files:
            status.stage("downloading", total=total, detail=f"{len(files)} file(s)" + (
                f", {format_size(total)}" if total else ""))
        plan = prepare(result, cache, settings, self.environ, workdir, progress,
                       on_bytes=status.advance)
        count = len(plan.wheels) + len(plan.editables)
        if count:
            status.stage("installing", detail=f"{count} checked artifact(s)")
            self.install_started = True
            from safeinstall.bytecode import CompileFailed

            try:
                warnings = install(plan, result, settings, self.environ, workdir,
                                   cmd.passthrough, stdout_to_stderr=ours.report == "-",
                                   early=self.pip_install)
            except CompileFailed:
                self.installed = True  # pip finished: only the bytecode is missing
                raise
            self.installed = True
            if settings.verbosity > -2:
                for text in warnings:
                    console.print(f"[yellow]warning[/] {text}")
        status.stop()
        if count:
            if settings.verbosity >= 0:
                console.print(f"safe-install: installed {count} checked artifact(s).")
        elif settings.verbosity >= 0:
            console.print("safe-install: nothing to install; all requirements already satisfied.")
        if ours.report:
            write_report(report_json(result, policy=ours.policy, dry_run=False,
                                     exit_code=EXIT_OK, outcome="installed"), ours.report,
                         self.out)
        return EXIT_OK

    def _open_trust(self, trust_store: str | None, console: LazyConsole) -> TrustStore | None:
        from safeinstall.trust import open_trust

        try:
            trust = open_trust(trust_store, environ=self.environ, cwd=self.cwd, now=self.now,
                               write=True)
        except SafeInstallError as exc:
            self._trust_failed(exc, trust_store, console)
            return None
        if trust is not None:
            self.stack.callback(trust.close)
        return trust

    @staticmethod
    def _trust_failed(exc: SafeInstallError, trust_store: str | None,
                      console: LazyConsole) -> None:
        """A trust store that cannot be opened or used: an error for a store the user chose,
        or one from a newer safe-install (or with damaged rows), rather than silently turning
        trust on first use off; a warning for the default store, a convenience (an
        unwritable home, a read-only file) that must not stop installs."""
        from safeinstall.store import StoreRowError, StoreSchemaError

        if trust_store or isinstance(exc, (StoreSchemaError, StoreRowError)):
            raise exc
        console.print(f"[yellow]warning[/] trust on first use is off for this run: {exc}")


def _protect_own_environment(result: CheckResult, settings: PipSettings, target: TargetPython,
                             console: LazyConsole) -> None:
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


def _progress_for(verbosity: int, interactive: bool, console: LazyConsole) -> Silent:
    """Progress by stage (:mod:`safeinstall.progress`): a rich display on a terminal, one line
    per stage without one, nothing with -q."""
    from safeinstall.progress import Lines, Silent, Terminal

    if verbosity < 0:
        return Silent()
    if interactive:
        return Terminal(console.real())
    return Lines(console.stream, verbose=verbosity > 0, width=console.layout_width)
