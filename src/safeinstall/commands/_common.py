"""Options and set-up shared by the commands that read indexes (timeline, watch).

Index options mean what they mean to ``pip install`` and are merged over pip's configuration
(files and ``PIP_*`` variables, read through pip's CLI) exactly as the checked install merges
them; ``--isolated`` ignores that configuration, as in pip.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.cmdline import CommandLine, declare, declare_options, tool_option
from safeinstall.errors import UsageError
from safeinstall.finder import Finder
from safeinstall.pipconfig import read_pip_config
from safeinstall.pipoptions import PipSettings, effective_settings
from safeinstall.policy import Policy
from safeinstall.releaseview import NamedTarget, RulesFor, current_named, parse_targets
from safeinstall.selection import FormatControl, SelectionRules
from safeinstall.target import TargetPython
from safeinstall.wiring import absolute


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """pip's index options, declared from safe-install's option table (:func:`declare`)."""
    group = parser.add_argument_group("indexes (as in pip install; pip's configuration applies)")
    for names in (("-i", "--index-url"), ("--extra-index-url",), ("--no-index",),
                  ("-f", "--find-links"), ("--trusted-host",), ("--cert",), ("--timeout",)):
        declare(group, *names)
    declare(group, "--response-deadline",
            help="the longest one response may take in all (default 120; plus 1 s per 100 KiB "
            "it announces)")
    for names in (("--only-binary",), ("--no-binary",), ("--prefer-binary",), ("--isolated",)):
        declare(group, *names)


def add_target_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    group = parser.add_argument_group("targets")
    declare_options(group, [tool_option(
        "--targets", kind="value", repeat=True, metavar="SPECS",
        help="targets to show pip's choice for, comma-separated (repeatable): 'current' (this "
        "interpreter, or --python), 'common' (CPython 3.10-3.14 on manylinux x86_64/aarch64, "
        "musllinux x86_64, macOS arm64/x86_64, Windows amd64), or PYTHON:PLATFORM such as "
        "3.12:manylinux_x86_64, 3.10-3.14:win_amd64, *:macos_arm64 or "
        f"3.12:manylinux_2_28_x86_64 (a wheel platform tag). Default: {default}")])
    declare(group, "--python",
            help="the interpreter that 'current' means (default: the one running "
            "safe-install), as pip install --python")


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    declare(parser, "--late-after",
            help="lateness threshold relative to the release start (default: "
            "SAFE_INSTALL_LATE_AFTER, safe-install.toml, else 24h)")
    declare(parser, "--config",
            help="the one safe-install settings file to read (default: found as for "
            "safe-install; /dev/null: none)")
    declare_options(parser, [tool_option("--now", kind="value", metavar="TIME",
                                         help=argparse.SUPPRESS)])


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid --now {value!r}",
                         hint="an ISO 8601 time such as 2024-05-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_pin(text: str) -> tuple[NormalizedName, Version]:
    """``NAME==VERSION`` (extras and markers are not allowed: a release is a name and version)."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(f"invalid release {text!r}: {exc}",
                         hint="write NAME==VERSION, e.g. black==24.4.0") from None
    specs = list(req.specifier)
    if (len(specs) != 1 or specs[0].operator not in ("==", "===")
            or specs[0].version.endswith(".*") or req.url or req.marker):
        raise UsageError(f"{text!r} does not name one release",
                         hint="write NAME==VERSION, e.g. black==24.4.0")
    try:
        version = Version(specs[0].version)
    except InvalidVersion:
        raise UsageError(f"{text!r}: {specs[0].version!r} is not a valid version") from None
    return canonicalize_name(req.name), version


def load_policy(args: argparse.Namespace, environ: Mapping[str, str], cwd: str) -> Policy:
    from safeinstall.settings import load_settings

    values: dict[str, object] = {}
    if args.late_after is not None:
        values["late_after"] = args.late_after
    if args.config is not None:
        values["config_file"] = args.config
    return load_settings(CommandLine(values, (), ()), environ, Path(cwd)).policy


def pip_values(args: argparse.Namespace, cwd: str) -> dict[str, object]:
    """``pip install`` option values (by pipoptions dest) from the shared index options."""
    values: dict[str, object] = {
        "extra_index_urls": list(args.extra_index_url),
        "find_links": [absolute(p, cwd) for p in args.find_links],
        "trusted_hosts": list(args.trusted_host),
        "only_binary": list(args.only_binary),
        "no_binary": list(args.no_binary),
    }
    for dest in ("index_url", "cert", "timeout", "python", "response_deadline"):
        if getattr(args, dest, None) is not None:
            values[dest] = getattr(args, dest)
    for dest in ("no_index", "prefer_binary", "isolated"):
        if getattr(args, dest, False):
            values[dest] = True
    return values


def pip_settings(args: argparse.Namespace, environ: Mapping[str, str], cwd: str,
                 **extra: object) -> PipSettings:
    """The index/selection settings: our options over pip's configuration."""
    values = pip_values(args, cwd)
    values.update(extra)
    config = read_pip_config(environ, isolated=bool(args.isolated))
    return effective_settings(CommandLine(values, (), ()), config, cwd, environ=environ)


@dataclass(frozen=True)
class IndexSession:
    finder: Finder
    session: Any

    def close(self) -> None:
        self.session.close()


def open_finder(settings: PipSettings) -> IndexSession:
    """A finder over the settings' sources, with the checked install's HTTP session."""
    from safeinstall.wiring import make_finder, open_session

    session = open_session(settings)
    try:
        return IndexSession(make_finder(settings, session), session)
    except BaseException:
        session.close()
        raise


def current_target_of(settings: PipSettings) -> NamedTarget:
    """``current``: --python's interpreter (or ours), narrowed by pip's --platform & co."""
    from safeinstall.wiring import default_target

    note = f"interpreter {settings.python}" if settings.python else "this interpreter"
    if settings.foreign:
        note = "as described by pip's --platform/--python-version configuration"
    return current_named(default_target(settings), note=note)


def targets_of(args: argparse.Namespace, settings: PipSettings,
               default: Sequence[str]) -> tuple[NamedTarget, ...]:
    return parse_targets(args.targets or default, current=current_target_of(settings))


def rules_factory(settings: PipSettings) -> RulesFor:
    fc = FormatControl.from_options(settings.only_binary, settings.no_binary)

    def rules_for(target: TargetPython) -> SelectionRules:
        return SelectionRules(target=target, format_control=fc,
                              prefer_binary=settings.prefer_binary,
                              ignore_requires_python=settings.ignore_requires_python)

    return rules_for
