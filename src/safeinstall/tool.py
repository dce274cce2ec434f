"""``safe-install-tool COMMAND``: safe-install's other commands (lock, guard, audit, timeline...).

They live in a separate executable on purpose: ``safe-install ARGS`` must always mean
``pip install ARGS``, even for a package called ``lock`` or ``timeline``.

Each command is a module in :mod:`safeinstall.commands` exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args, *, environ, stdout, stderr, cwd) -> int``; it is
imported only when used, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from safeinstall import __version__
from safeinstall.cmdline import declare
from safeinstall.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, SafeInstallError

#: command name -> module under safeinstall.commands
COMMANDS: dict[str, str] = {}


def _available() -> dict[str, str]:
    import pkgutil

    import safeinstall.commands as pkg

    found = {m.name.replace("_", "-"): m.name for m in pkgutil.iter_modules(pkg.__path__)
             if not m.name.startswith("_")}
    return {**found, **COMMANDS}


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None,
         cwd: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if environ is None else environ)
    # every line written goes through display.printable: text from an index, a lock or a
    # store never reaches the terminal raw (rich consoles escape on their own)
    from safeinstall.display import SafeStream

    out: IO[str] = SafeStream(stdout or sys.stdout)  # type: ignore[assignment]
    err: IO[str] = SafeStream(stderr or sys.stderr)  # type: ignore[assignment]
    commands = _available()
    parser = argparse.ArgumentParser(
        prog="safe-install-tool",
        description="safe-install's commands besides the checked install "
        "(`safe-install ARGS` is always `pip install ARGS`).",
    )
    parser.add_argument("-V", "--version", action="version",
                        version=f"safe-install {__version__}")
    declare(parser, "-v", "--verbose",
            help="log lines on standard error saying why each file lost, as safe-install -v "
            "(given before COMMAND)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    lead = _verbosity_options(argv)
    if lead == len(argv) or argv[lead] not in commands:
        for name in sorted(commands):
            sub.add_parser(name, help=_help_of(commands[name]))
        try:
            if argv and lead == len(argv):
                parser.error("the following arguments are required: COMMAND")
            parser.parse_args(argv or ["--help"])
        except SystemExit as exc:
            return int(exc.code or 0) if isinstance(exc.code, int) else 2
        return 2
    name = argv[lead]
    module = importlib.import_module(f"safeinstall.commands.{commands[name]}")
    cmd_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
    module.add_arguments(cmd_parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    from safeinstall.display import printable
    from safeinstall.logs import configure_logging
    from safeinstall.process import interrupt_code, interrupt_name, interruptible, silence_stdout

    configure_logging(int(args.verbose), err, env)  # -v: why each file lost, on stderr

    try:
        with interruptible():
            return int(module.run(args, environ=env, stdout=out, stderr=err,
                                  cwd=cwd or os.getcwd()))
    except SafeInstallError as exc:
        err.write(f"safe-install-tool {name}: error: {printable(exc, keep_newlines=True)}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        err.write(f"safe-install-tool {name}: {interrupt_name(exc)}\n")
        return interrupt_code(exc)
    except BrokenPipeError:  # the reader of our output went away (| head)
        silence_stdout(out)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - a bug: say so (no command of this tool installs)
        from safeinstall.entry import internal_error

        internal_error(exc, err, env, f"safe-install-tool {name}")
        return EXIT_INTERNAL


def _verbosity_options(argv: Sequence[str]) -> int:
    """How many of the first arguments are ``-v`` / ``-vv`` / ``--verbose`` (the tool's own,
    before COMMAND; after it, an option is the command's)."""
    lead = 0
    while lead < len(argv) and (argv[lead] == "--verbose" or (
            len(argv[lead]) > 1 and argv[lead].startswith("-")
            and set(argv[lead][1:]) == {"v"})):
        lead += 1
    return lead


def _help_of(module_name: str) -> str:
    """A command's one-line ``HELP``, read from its source without running it: ``--help``
    lists every command, and importing them all would load the HTTP stack (~0.3 s). A
    module whose ``HELP`` is not a plain string literal is imported."""
    import ast
    from importlib.util import find_spec

    name = f"safeinstall.commands.{module_name}"
    spec = find_spec(name)
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        try:
            with open(spec.origin, encoding="utf-8") as source:
                tree = ast.parse(source.read())
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets):
                    return str(ast.literal_eval(node.value))
        except (OSError, SyntaxError, ValueError):
            pass
    module = importlib.import_module(name)
    return str(getattr(module, "HELP", ""))


def console_main() -> None:
    from safeinstall.entry import leave, tune_gc

    tune_gc()
    leave(main())
