"""Options and set-up shared by ``lock``, ``guard`` and ``audit``.

Index, selection and target options come from :mod:`safeinstall.commands._common` (the same
as ``timeline``); the policy options are those of the checked install that apply to a lock.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from safeinstall.commands import _common
from safeinstall.pipoptions import CommandLine
from safeinstall.settings import Settings


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_policy_arguments(parser)
    parser.add_argument("--allow-late", action="append", default=[],
                        metavar="NAME==VERSION|sha256:HEX",
                        help="accept late files of one release, or one file (repeatable), "
                        "as safe-install --allow-late")
    parser.add_argument("--on-unknown-upload-time", choices=("refuse", "warn"),
                        help="a file that cannot be dated (default refuse)")


def load_settings(args: argparse.Namespace, environ: Mapping[str, str], cwd: str) -> Settings:
    """Our policy: command line > SAFE_INSTALL_* > config files > defaults."""
    from safeinstall.settings import load_settings as load

    values: dict[str, object] = {"allow_late": list(args.allow_late)}
    for dest, key in (("late_after", "late_after"), ("config", "config_file"),
                      ("on_unknown_upload_time", "on_unknown_upload_time")):
        if getattr(args, dest, None) is not None:
            values[key] = getattr(args, dest)
    return load(CommandLine(values, (), ()), environ, Path(cwd))


pip_values = _common.pip_values


def explicit_indexes(args: argparse.Namespace) -> bool:
    return bool(args.index_url or args.extra_index_url or args.no_index or args.find_links)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                        help="output format (default text)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the output to FILE instead of stdout")


def emit(text: str, dest: str | None, stdout: IO[str], cwd: str) -> None:
    """Write ``text`` to ``dest`` (relative to ``cwd``), or to stdout for None or ``-``."""
    if dest and dest != "-":
        from safeinstall.lockfile import write_atomically

        write_atomically(Path(cwd, dest), text)
    else:
        stdout.write(text)


def open_index(settings: Any, finder_class: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(session, finder) configured as the checked install configures them."""
    from safeinstall.cli import make_finder, open_session

    session = open_session(settings, urls=tuple(kwargs.get("times_from", ())))
    try:
        finder = make_finder(settings, session, finder_class, **kwargs)
    except BaseException:
        session.close()
        raise
    return session, finder
