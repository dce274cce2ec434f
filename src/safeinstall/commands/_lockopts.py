"""Options and set-up shared by ``lock``, ``guard`` and ``audit``.

Index, selection and target options come from :mod:`safeinstall.commands._common` (the same
as ``timeline``); the policy options are those of the checked install that apply to a lock.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from safeinstall.cmdline import CommandLine, declare_options, shared_option, tool_option
from safeinstall.commands import _common
from safeinstall.settings import Settings

POLICY_OPTIONS = (
    shared_option("--allow-late",
                  help="accept late files of one release, or one file (repeatable), "
                  "as safe-install --allow-late"),
    shared_option("--on-unknown-upload-time", choices=("refuse", "warn"), metavar="",
                  help="a file that cannot be dated (default refuse)"),
    shared_option("--on-late", choices=("refuse", "verify"), metavar="",
                  help="refuse (default): a late file fails; verify: a late wheel proven "
                  "a benign backfill of an on-time file of its release is late-verified "
                  "(downloads it and the on-time files it is compared with)"),
)


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_policy_arguments(parser)
    declare_options(parser, POLICY_OPTIONS)


def load_settings(args: argparse.Namespace, environ: Mapping[str, str], cwd: str) -> Settings:
    """Our policy: command line > SAFE_INSTALL_* > config files > defaults."""
    from safeinstall.settings import load_settings as load

    values: dict[str, object] = {"allow_late": list(args.allow_late)}
    if getattr(args, "times_from", None):
        values["times_from"] = list(args.times_from)
    for dest, key in (("late_after", "late_after"), ("config", "config_file"),
                      ("on_unknown_upload_time", "on_unknown_upload_time"),
                      ("on_late", "on_late")):
        if getattr(args, dest, None) is not None:
            values[key] = getattr(args, dest)
    return load(CommandLine(values, (), ()), environ, Path(cwd))


def prover(policy: Any, session: Any, cache_dir: str | None, environ: Mapping[str, str]
           ) -> tuple[Any, Any]:
    """With ``--on-late verify``: (an artifact cache to close, the prover
    :func:`safeinstall.lockcheck.date_release` takes); otherwise (None, None)."""
    if policy.on_late != "verify":
        return None, None
    from safeinstall.artifacts import ArtifactCache
    from safeinstall.backfillcheck import prove_dated
    from safeinstall.settings import default_cache_dir

    cache = ArtifactCache(session, Path(cache_dir) if cache_dir else default_cache_dir(environ))

    def prove(f: Any, timeline: Any, release_files: Any) -> Any:
        return prove_dated(cache, policy, f, timeline, release_files)

    return cache, prove


def lock_targets(args: argparse.Namespace, settings: Any) -> tuple[Any, ...]:
    """``--targets`` (default ``current``), each with the marker environment of the machine it
    describes (:func:`safeinstall.locks.targets.for_lock`)."""
    from safeinstall.locks.targets import for_lock

    return tuple(for_lock(t) for t in _common.targets_of(args, settings, ["current"]))


#: ``--lock-format`` of guard and audit
LOCK_FORMAT = tool_option("--lock-format", kind="value",
                          choices=("requirements", "pylock", "pipfile", "poetry", "uv"),
                          help="the lock format (default: from the file name)")

OUTPUT_OPTIONS = (
    tool_option("--format", kind="value", choices=("text", "json", "sarif"), default="text",
                help="output format (default text)"),
    tool_option("-o", "--output", kind="value", metavar="FILE",
                help="write the output to FILE instead of stdout"),
    tool_option("--all", "-v", "--verbose",
                help="text output: list on-time files too (default: only what is not "
                "on time, and a summary)"),
    tool_option("-q", "--quiet",
                help="text output: print only what fails (nothing when all is well)"),
)

TIMES_FROM = shared_option(
    "--times-from", help="an index used only to date identical files (same name and "
    "sha256) when the configured ones give no upload times (repeatable; "
    "as safe-install --times-from)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    declare_options(parser, OUTPUT_OPTIONS)


def add_times_from_argument(parser: argparse.ArgumentParser) -> None:
    declare_options(parser, (TIMES_FROM,))


def emit(text: str, dest: str | None, stdout: IO[str], cwd: str) -> None:
    """Write ``text`` to ``dest`` (relative to ``cwd``), or to stdout for None or ``-``;
    escaped with :func:`safeinstall.display.printable` either way (a file is read on a
    terminal too)."""
    from safeinstall.display import printable

    text = printable(text, keep_newlines=True)
    if dest and dest != "-":
        from safeinstall.fileio import write_atomically

        write_atomically(Path(cwd, dest), text)
    else:
        stdout.write(text)


def open_index(settings: Any, finder_class: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(session, finder) configured as the checked install configures them."""
    from safeinstall.wiring import make_finder, open_session

    session = open_session(settings, urls=tuple(kwargs.get("times_from", ())))
    try:
        finder = make_finder(settings, session, finder_class, **kwargs)
    except BaseException:
        session.close()
        raise
    return session, finder
