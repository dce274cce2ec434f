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
    """``--help``: made from the option table (:func:`safeinstall.cmdline.help_text`), and
    where the documentation is."""
    from safeinstall.cmdline import help_text as options_help

    return options_help() + ("Documentation (reference.md: every option, setting, finding and "
                             "report field; usage.md; threat-model.md):\n"
                             f"  {docs_location()}\n")


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
        from safeinstall.cmdline import parse_command_line

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
