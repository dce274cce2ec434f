"""``safe-install ARGS``: exactly ``pip install ARGS``, with the late-artifact and hash checks
first.

The command line layer: parses arguments, starts a :class:`~safeinstall.run.Run` (which wires
the library together through :mod:`safeinstall.wiring`), and maps our errors to exit codes and
messages. Only errors of our own are caught; anything else is a bug and shows as one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from safeinstall import __version__
from safeinstall.display import SafeStream
from safeinstall.entry import internal_error, leave, tune_gc
from safeinstall.errors import EXIT_OK, EXIT_REFUSED, SafeInstallError
from safeinstall.process import interruptible
from safeinstall.run import Run
from safeinstall.wiring import default_tls_context, take_trust_options

if TYPE_CHECKING:
    from safeinstall.pipconfig import PendingPipConfig
    from safeinstall.policy import Policy

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
        else default_tls_context(environ)
    # every line written goes through display.printable: text from an index, a lock or a
    # store never reaches the terminal raw (the rich console escapes on its own)
    out: IO[str] = SafeStream(stdout or sys.stdout)  # type: ignore[assignment]
    err: IO[str] = SafeStream(stderr or sys.stderr)  # type: ignore[assignment]
    run = Run(environ=environ, out=out, err=err, cwd=cwd or os.getcwd(),
              now=now or datetime.now(timezone.utc), pip_config=pip_config, tls=tls)
    with interruptible(), run:  # leaving the run stops whatever it started
        return _main(argv, run)


def _main(argv: list[str], run: Run) -> int:
    """Parse the command line, load the settings, execute the run; every error of ours
    becomes its message, its exit code and (if asked for) an error report."""
    from safeinstall.display import printable
    from safeinstall.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, ReportError
    from safeinstall.process import interrupt_code, interrupt_name, silence_stdout

    environ, out, err = run.environ, run.out, run.err
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
        run.start_early(cmd)
        from safeinstall.settings import check_report_destination, load_settings

        ours = load_settings(cmd, environ, Path(run.cwd))
        policy = ours.policy
        # before anything is installed: a report that cannot be written must not turn an
        # install into an error afterwards
        check_report_destination(ours.report, ours.sources.get("report", "--report"))
        report_dest = ours.report
        return run.execute(cmd, ours, trust_store)
    except SafeInstallError as exc:
        from safeinstall.checker import CheckRefused

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
                or run.install_started:
            err.write(f"safe-install: {run.outcome()}.\n")
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
        err.write(f"safe-install: {interrupt_name(exc)}; {run.outcome()} by this run.\n")
        return interrupt_code(exc)
    except BrokenPipeError:  # the reader of our output went away (| head)
        silence_stdout(out)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - a bug: say so, and what it left behind
        internal_error(exc, err, environ, "safe-install")
        err.write(f"safe-install: {run.outcome()}.\n")
        return EXIT_INTERNAL


def console_main() -> None:
    tune_gc()
    leave(main())
