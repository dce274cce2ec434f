"""pip's settings as safe-install understands them (:class:`PipSettings`): the parsed command
line (:mod:`safeinstall.cmdline`) over pip's own configuration (:mod:`safeinstall.pipconfig`).

pip's configuration (config files and ``PIP_*`` variables) is read through pip's own CLI
(``pip config list``), never ``pip._internal``; values from it are defaults that the command line
overrides (or, for repeatable options, extends), exactly as pip does.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from safeinstall.cmdline import CommandLine
from safeinstall.errors import UsageError
from safeinstall.pipconfig import PipConfig

# ---------------------------------------------------------------------------------------------
# pip configuration (read in :mod:`safeinstall.pipconfig`)


_TRUE = {"1", "yes", "true", "on", "y", "t"}
_FALSE = {"0", "no", "false", "off", "n", "f"}


def _config_bool(config: PipConfig, key: str) -> bool | None:
    value = config.get(key)
    if value is None:
        return None
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    # pip accepts counts for verbose/quiet, e.g. PIP_VERBOSE=2
    if low.isdigit():
        return int(low) > 0
    raise UsageError(
        f"pip configuration value {key}={value!r} is not a boolean",
        hint="use 1/0, yes/no, true/false or on/off",
    )


def _config_list(config: PipConfig, key: str) -> list[str]:
    value = config.get(key)
    return shlex.split(value) if value else []


@dataclass(frozen=True)
class PipSettings:
    """The effective selection-relevant settings: command line over pip configuration."""

    index_url: str = "https://pypi.org/simple/"
    extra_index_urls: tuple[str, ...] = ()
    no_index: bool = False
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    constraint_files: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()
    editables: tuple[str, ...] = ()
    pre: bool = False
    no_deps: bool = False
    upgrade: bool = False
    upgrade_strategy: str = "only-if-needed"
    force_reinstall: bool = False
    ignore_installed: bool = False
    ignore_requires_python: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    prefer_binary: bool = False
    require_hashes: bool = False
    dry_run: bool = False
    python: str | None = None
    target_dir: str | None = None
    prefix: str | None = None
    user: bool = False
    root: str | None = None
    break_system_packages: bool = False
    cert: str | None = None
    client_cert: str | None = None
    timeout: float = 15.0
    #: ours (``--response-deadline``): the longest one response may take in all, in seconds
    response_deadline: float = 120.0
    retries: int = 5
    proxy: str | None = None
    verbosity: int = 0
    isolated: bool = False
    platforms: tuple[str, ...] = ()
    python_version: str | None = None
    implementation: str | None = None
    abis: tuple[str, ...] = ()
    uploaded_prior_to: datetime | None = None
    #: pip's --no-build-isolation: builds take their requirements from the target environment
    no_build_isolation: bool = False
    #: pip 26's --build-constraint files: they constrain (and, with --hash, pin) build
    #: dependencies only
    build_constraint_files: tuple[str, ...] = ()
    #: safe-install's --build-with-pins: a build requirement that a pinned requirement
    #: (``name==version``) satisfies is built with that pinned version
    build_with_pins: bool = False

    @property
    def foreign(self) -> bool:
        """pip's "dist restriction": a target described by tags rather than an interpreter."""
        return bool(self.platforms or self.python_version or self.implementation or self.abis)

    @property
    def index_urls(self) -> tuple[str, ...]:
        if self.no_index:
            return ()
        return (self.index_url, *self.extra_index_urls)

    def with_file_options(self, **changes: object) -> PipSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_response_deadline(value: object) -> float:
    """``--response-deadline SECONDS``: a positive number (default 120)."""
    if value is None:
        return 120.0
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10**7:  # also NaN
        raise UsageError(f"invalid --response-deadline {value!r}",
                         hint="a number of seconds, e.g. 120 (the default) or 600")
    return seconds


def parse_uploaded_prior_to(value: str, now: datetime) -> datetime:
    """pip's ``--uploaded-prior-to``: an ISO 8601 datetime, or ``PnD`` (n days before now)."""
    import re

    match = re.match(r"^P(\d+)D$", value, re.ASCII)
    if match:
        try:
            return now - timedelta(days=int(match.group(1)))
        except OverflowError:
            raise UsageError(f"invalid --uploaded-prior-to value {value!r}: too many days",
                             hint="a number of days that ends after the year 1") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"invalid --uploaded-prior-to value {value!r}: {exc}",
            hint="an ISO 8601 datetime ('2023-01-01', '2023-01-01T00:00:00Z') or a number of "
            "days ('P3D'), as pip accepts",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def effective_settings(cmd: CommandLine, config: PipConfig, cwd: str, *,
                       now: datetime | None = None,
                       environ: Mapping[str, str] | None = None) -> PipSettings:
    """Merge the command line over pip's configuration, as pip's option parser does.

    The target interpreter is ``--python`` (or pip's configuration), else the virtual
    environment ``VIRTUAL_ENV`` in ``environ`` names (unless safe-install runs in it), else
    the interpreter safe-install runs on (``python`` None). Option combinations that pip
    refuses before doing anything are refused here, with pip's words."""
    from safeinstall.target import active_environment

    def flag(dest: str, key: str) -> bool:
        if cmd.get(dest):
            return True
        return bool(_config_bool(config, key))

    def listed(dest: str, key: str) -> tuple[str, ...]:
        # pip appends command-line values to the configured defaults for repeatable options
        cli = cmd.get(dest) or []
        assert isinstance(cli, list)
        return tuple(_config_list(config, key) + [str(v) for v in cli])

    def value(dest: str, key: str) -> str | None:
        cli = cmd.get(dest)
        if cli is not None:
            return str(cli)
        return config.get(key)

    def number(dest: str, key: str, default: float) -> float:
        raw = value(dest, key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"{key} must be a number, got {raw!r}") from None

    verbosity = int(cmd.get("verbose", 0) or 0) - int(cmd.get("quiet", 0) or 0)  # type: ignore[call-overload]
    upgrade_strategy = value("upgrade_strategy", "upgrade-strategy") or "only-if-needed"
    if upgrade_strategy not in ("only-if-needed", "eager"):
        raise UsageError(
            f"invalid --upgrade-strategy {upgrade_strategy!r}",
            hint="choose 'only-if-needed' or 'eager'",
        )
    index_url = value("index_url", "index-url") or "https://pypi.org/simple/"
    settings = PipSettings(
        index_url=index_url,
        extra_index_urls=listed("extra_index_urls", "extra-index-url"),
        no_index=flag("no_index", "no-index"),
        find_links=listed("find_links", "find-links"),
        trusted_hosts=listed("trusted_hosts", "trusted-host"),
        constraint_files=listed("constraints", "constraint"),
        requirement_files=listed("requirements", "requirement"),
        editables=tuple(str(e) for e in (cmd.get("editables") or [])),  # type: ignore[attr-defined]
        pre=flag("pre", "pre"),
        no_deps=flag("no_deps", "no-deps"),
        upgrade=flag("upgrade", "upgrade"),
        upgrade_strategy=upgrade_strategy,
        force_reinstall=flag("force_reinstall", "force-reinstall"),
        ignore_installed=flag("ignore_installed", "ignore-installed"),
        ignore_requires_python=flag("ignore_requires_python", "ignore-requires-python"),
        only_binary=listed("only_binary", "only-binary"),
        no_binary=listed("no_binary", "no-binary"),
        prefer_binary=flag("prefer_binary", "prefer-binary"),
        require_hashes=flag("require_hashes", "require-hashes")
        and not cmd.get("no_require_hashes"),
        dry_run=bool(cmd.get("dry_run")),
        python=value("python", "python")
        or (active_environment(environ) if environ is not None else None),
        target_dir=value("target", "target"),
        prefix=value("prefix", "prefix"),
        user=flag("user", "user"),
        root=value("root", "root"),
        break_system_packages=flag("break_system_packages", "break-system-packages"),
        cert=value("cert", "cert"),
        client_cert=value("client_cert", "client-cert"),
        timeout=number("timeout", "timeout" if config.get("timeout") else "default-timeout", 15.0),
        response_deadline=parse_response_deadline(cmd.get("response_deadline")),
        retries=int(number("retries", "retries", 5)),
        proxy=value("proxy", "proxy"),
        verbosity=verbosity,
        isolated=bool(cmd.get("isolated")),
        platforms=listed("platforms", "platform"),
        python_version=value("python_version", "python-version"),
        implementation=value("implementation", "implementation"),
        abis=listed("abis", "abi"),
        uploaded_prior_to=parse_uploaded_prior_to(
            str(value("uploaded_prior_to", "uploaded-prior-to")),
            now or datetime.now(timezone.utc))
        if value("uploaded_prior_to", "uploaded-prior-to") else None,
        no_build_isolation=bool(cmd.get("no_build_isolation")),
        build_constraint_files=listed("build_constraints", "build-constraint"),
        build_with_pins=bool(cmd.get("build_with_pins")),
    )
    for key in ("config-settings", "global-option", "all-releases",
                "only-final", "only-deps"):
        if config.get(key):
            raise UsageError(
                f"pip configuration sets {key!r}, which safe-install does not support yet",
                hint="remove it from the pip configuration (see `pip config list`) for this run",
            )
    if settings.build_constraint_files and settings.no_build_isolation:
        raise UsageError("--build-constraint cannot be used with --no-build-isolation.",
                         hint="pip refuses the combination too: choose one")
    if settings.target_dir and settings.user:
        raise UsageError("cannot combine --user and --target", hint="choose one install location")
    if settings.prefix and settings.user:
        raise UsageError("cannot combine --user and --prefix: they imply different "
                         "installation locations (pip refuses it too)",
                         hint="choose one install location")
    if settings.target_dir:
        target_dir = os.path.join(cwd, os.path.expanduser(settings.target_dir))
        if os.path.exists(target_dir) and not os.path.isdir(target_dir):
            raise UsageError(f"--target {settings.target_dir!r} exists but is not a directory "
                             "(pip refuses it too)",
                             hint="name a directory, or a path that does not exist yet")
    return settings


def with_file_options(settings: PipSettings, fo: Any) -> tuple[PipSettings, list[str]]:
    """Apply the global options met in requirement files (``reqfile.RequirementFileOptions``)
    as pip does: a file's ``-i`` replaces the indexes, other lists are extended. Returns the
    new settings and notes saying what a file changed (indexes are shown in the report)."""
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if fo.no_index:
        changes["no_index"] = True
        notes.append("a requirement file sets --no-index: no index is searched")
    if fo.index_url:
        changes["index_url"] = fo.index_url
        changes["extra_index_urls"] = tuple(fo.extra_index_urls)
        notes.append(f"a requirement file sets the index to {fo.index_url}")
    elif fo.extra_index_urls:
        changes["extra_index_urls"] = settings.extra_index_urls + tuple(fo.extra_index_urls)
        notes.append("a requirement file adds indexes: " + ", ".join(fo.extra_index_urls))
    if fo.find_links:
        changes["find_links"] = settings.find_links + tuple(fo.find_links)
        notes.append("a requirement file adds find-links locations: " + ", ".join(fo.find_links))
    if fo.trusted_hosts:
        changes["trusted_hosts"] = settings.trusted_hosts + tuple(fo.trusted_hosts)
        notes.append("a requirement file marks hosts as trusted (plain http and unverified "
                     "TLS allowed): " + ", ".join(fo.trusted_hosts))
    for flag in ("pre", "prefer_binary", "require_hashes"):
        if getattr(fo, flag):
            changes[flag] = True
    if fo.only_binary:
        changes["only_binary"] = settings.only_binary + tuple(fo.only_binary)
    if fo.no_binary:
        changes["no_binary"] = settings.no_binary + tuple(fo.no_binary)
    return (settings.with_file_options(**changes) if changes else settings), notes


def check_dist_restriction(settings: PipSettings) -> None:
    """pip's rules for --platform/--python-version/--implementation/--abi, same messages."""
    if not settings.foreign:
        return
    from safeinstall.selection import FormatControl

    fc = FormatControl.from_options(settings.only_binary, settings.no_binary)
    binary_only = fc.only_binary == frozenset({":all:"}) and not fc.no_binary
    if not binary_only and not settings.no_deps:
        raise UsageError(
            "When restricting platform and interpreter constraints using --python-version, "
            "--platform, --abi, or --implementation, either --no-deps must be set, or "
            "--only-binary=:all: must be set and --no-binary must not be set (or must be set "
            "to :none:).",
            hint="add --only-binary :all: (sdists cannot be built for a foreign target)",
        )
    if not settings.dry_run and not settings.target_dir:
        raise UsageError(
            "Can not use any platform or abi specific options unless installing via "
            "'--target' or using '--dry-run'",
            hint="add --dry-run to check, or --target DIR to install into a directory",
        )


def environ_without_pip(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` in which pip reads no configuration (for pip runs we drive fully)."""
    env = {k: v for k, v in environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env
