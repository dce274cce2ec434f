"""The `pip install` command line and pip's own configuration, as safe-install understands them.

``safe-install ARGS`` means ``pip install ARGS``.  Every pip install option is in one of three
groups, and the group decides what we do with it:

* *selection* options change which artifact pip would choose; we implement each one ourselves;
* *passthrough* options only change how pip installs or talks; they are handed to pip unchanged;
* *refused* options would change the selection in a way we do not model yet: we stop with a
  clear message rather than check something other than what pip would install.

pip's configuration (config files and ``PIP_*`` variables) is read through pip's own CLI
(``pip config list``), never ``pip._internal``; values from it are defaults that the command line
overrides (or, for repeatable options, extends), exactly as pip does.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from safeinstall.errors import UsageError
from safeinstall.pipconfig import PipConfig

Kind = Literal["flag", "value", "count"]
Group = Literal["selection", "passthrough", "refused", "ours"]


@dataclass(frozen=True)
class OptionSpec:
    dest: str
    names: tuple[str, ...]
    kind: Kind
    group: Group
    repeat: bool = False  # value options that may be given several times
    why: str = ""  # for refused options


def _o(dest: str, *names: str, kind: Kind = "flag", group: Group = "selection",
       repeat: bool = False, why: str = "") -> OptionSpec:
    return OptionSpec(dest, names, kind, group, repeat, why)


# Options of `pip install` (pip 26) plus our own. Order does not matter.
OPTIONS: tuple[OptionSpec, ...] = (
    # -- selection: implemented by safe-install
    _o("requirements", "-r", "--requirement", kind="value", repeat=True),
    _o("constraints", "-c", "--constraint", kind="value", repeat=True),
    _o("editables", "-e", "--editable", kind="value", repeat=True),
    _o("index_url", "-i", "--index-url", kind="value"),
    _o("extra_index_urls", "--extra-index-url", kind="value", repeat=True),
    _o("no_index", "--no-index"),
    _o("find_links", "-f", "--find-links", kind="value", repeat=True),
    _o("trusted_hosts", "--trusted-host", kind="value", repeat=True),
    _o("pre", "--pre"),
    _o("no_deps", "--no-deps", "--no-dependencies"),
    _o("upgrade", "-U", "--upgrade"),
    _o("upgrade_strategy", "--upgrade-strategy", kind="value"),
    _o("force_reinstall", "--force-reinstall"),
    _o("ignore_installed", "-I", "--ignore-installed"),
    _o("ignore_requires_python", "--ignore-requires-python"),
    _o("only_binary", "--only-binary", kind="value", repeat=True),
    _o("no_binary", "--no-binary", kind="value", repeat=True),
    _o("prefer_binary", "--prefer-binary"),
    _o("require_hashes", "--require-hashes"),
    _o("dry_run", "--dry-run"),
    _o("python", "--python", kind="value"),
    _o("target", "-t", "--target", kind="value"),
    _o("prefix", "--prefix", kind="value"),
    _o("user", "--user"),
    _o("root", "--root", kind="value"),
    _o("isolated", "--isolated"),
    _o("cert", "--cert", kind="value"),
    _o("client_cert", "--client-cert", kind="value"),
    _o("timeout", "--timeout", "--default-timeout", kind="value"),
    _o("retries", "--retries", kind="value"),
    _o("proxy", "--proxy", kind="value"),
    _o("quiet", "-q", "--quiet", kind="count"),
    _o("verbose", "-v", "--verbose", kind="count"),
    # -- passthrough: how pip installs, not what
    _o("no_warn_script_location", "--no-warn-script-location", group="passthrough"),
    _o("no_warn_conflicts", "--no-warn-conflicts", group="passthrough"),
    _o("compile", "--compile", group="passthrough"),
    _o("no_compile", "--no-compile", group="passthrough"),
    _o("root_user_action", "--root-user-action", kind="value", group="passthrough"),
    _o("break_system_packages", "--break-system-packages", group="passthrough"),
    _o("no_color", "--no-color", group="passthrough"),
    _o("progress_bar", "--progress-bar", kind="value", group="passthrough"),
    _o("log", "--log", "--log-file", "--local-log", kind="value", group="passthrough"),
    _o("no_input", "--no-input", group="passthrough"),
    _o("disable_pip_version_check", "--disable-pip-version-check", group="passthrough"),
    _o("exists_action", "--exists-action", kind="value", repeat=True, group="passthrough"),
    _o("cache_dir", "--cache-dir", kind="value", group="passthrough"),
    _o("no_cache_dir", "--no-cache-dir", group="passthrough"),
    _o("require_virtualenv", "--require-virtualenv", "--require-venv", group="passthrough"),
    _o("no_clean", "--no-clean", group="passthrough"),
    _o("src", "--src", "--source", "--source-dir", "--source-directory", kind="value",
       group="passthrough"),
    _o("no_build_isolation", "--no-build-isolation", group="passthrough"),
    _o("check_build_dependencies", "--check-build-dependencies", group="passthrough"),
    _o("keyring_provider", "--keyring-provider", kind="value", group="passthrough"),
    _o("use_feature", "--use-feature", kind="value", repeat=True, group="passthrough"),
    _o("use_deprecated", "--use-deprecated", kind="value", repeat=True, group="passthrough"),
    _o("debug", "--debug", group="passthrough"),
    _o("no_proxy_env", "--no-proxy-env", group="passthrough"),
    _o("resume_retries", "--resume-retries", kind="value", group="passthrough"),
    _o("refresh_package", "--refresh-package", kind="value", repeat=True, group="passthrough"),
    _o("no_require_hashes", "--no-require-hashes"),
    _o("build_constraints", "--build-constraint", kind="value", repeat=True),
    # -- refused: would change the selection in ways not modelled yet
    _o("platforms", "--platform", kind="value", repeat=True),
    _o("python_version", "--python-version", kind="value"),
    _o("implementation", "--implementation", kind="value"),
    _o("abis", "--abi", kind="value", repeat=True),
    _o("uploaded_prior_to", "--uploaded-prior-to", kind="value"),
    _o("config_settings", "-C", "--config-settings", kind="value", repeat=True, group="refused",
       why="build settings can change the metadata of built packages"),
    _o("global_option", "--global-option", kind="value", repeat=True, group="refused",
       why="setup.py options can change the metadata of built packages"),
    _o("group", "--group", kind="value", repeat=True, group="refused",
       why="dependency groups from pyproject.toml are not read yet; list the requirements"),
    _o("requirements_from_script", "--requirements-from-script", kind="value", repeat=True,
       group="refused", why="inline script metadata is not read yet; list the requirements"),
    _o("only_deps", "--only-deps", group="refused", why="not modelled yet"),
    _o("all_releases", "--all-releases", kind="value", repeat=True, group="refused",
       why="per-package pre-release control is not modelled yet; use --pre"),
    _o("only_final", "--only-final", kind="value", repeat=True, group="refused",
       why="per-package pre-release control is not modelled yet"),
    _o("use_pep517", "--use-pep517", "--no-use-pep517", group="refused",
       why="legacy setup.py builds are not supported"),
    # -- ours
    _o("report", "--report", kind="value", group="ours"),
    _o("late_after", "--late-after", kind="value", group="ours"),
    _o("on_late", "--on-late", kind="value", group="ours"),
    _o("on_unknown_upload_time", "--on-unknown-upload-time", kind="value", group="ours"),
    _o("on_untrusted_hash", "--on-untrusted-hash", kind="value", group="ours"),
    _o("on_unverifiable", "--on-unverifiable", kind="value", group="ours"),
    _o("allow_late", "--allow-late", kind="value", repeat=True, group="ours"),
    _o("on_multiple_indexes", "--on-multiple-indexes", kind="value", group="ours"),
    _o("times_from", "--times-from", kind="value", repeat=True, group="ours"),
    _o("index_for", "--index-for", kind="value", repeat=True, group="ours"),
    _o("response_deadline", "--response-deadline", kind="value", group="ours"),
    _o("build_with_pins", "--build-with-pins", group="ours"),
    _o("config_file", "--config", kind="value", group="ours"),
    _o("help", "-h", "--help", group="ours"),
    _o("version", "-V", "--version", group="ours"),
)

_BY_NAME: dict[str, OptionSpec] = {name: spec for spec in OPTIONS for name in spec.names}
_LONG_NAMES = sorted(name for name in _BY_NAME if name.startswith("--"))


@dataclass(frozen=True)
class CommandLine:
    """The parsed command line: values by dest, positional requirements, and pass-through args."""

    values: Mapping[str, object]
    requirements: tuple[str, ...]
    passthrough: tuple[str, ...]  # pip arguments handed to the final install unchanged

    def get(self, dest: str, default: object = None) -> object:
        return self.values.get(dest, default)


def _lookup(name: str) -> OptionSpec:
    spec = _BY_NAME.get(name)
    if spec is not None:
        return spec
    if name.startswith("--"):
        # optparse (pip) accepts any unambiguous prefix of a long option
        matches = [n for n in _LONG_NAMES if n.startswith(name)]
        specs = {_BY_NAME[m].dest for m in matches}
        if len(specs) == 1:
            return _BY_NAME[matches[0]]
        # an abbreviation pip itself understands keeps pip's meaning (``--index`` is still
        # --index-url, ``--time`` still --timeout), whatever options of ours share the prefix
        pips = [m for m in matches if _BY_NAME[m].group != "ours"]
        if len(pips) > 0 and len({_BY_NAME[m].dest for m in pips}) == 1:
            return _BY_NAME[pips[0]]
        if len(specs) > 1:
            raise UsageError(
                f"ambiguous option {name!r} (could be {', '.join(matches)})",
                hint="write the option in full",
            )
    raise UsageError(
        f"no such option: {name!r}",
        hint="safe-install takes the options of `pip install`; see `safe-install --help`",
    )


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    """Parse ``pip install`` style arguments (plus ours) without reading any configuration."""
    values: dict[str, object] = {}
    positionals: list[str] = []
    passthrough: list[str] = []

    def store(spec: OptionSpec, value: str | None, written: str) -> None:
        if spec.group == "refused":
            raise UsageError(
                f"{written} is not supported by safe-install yet: {spec.why}",
                hint="safe-install refuses options that would change which files pip selects "
                "rather than check something other than what pip would install",
            )
        if spec.kind == "count":
            values[spec.dest] = int(values.get(spec.dest, 0)) + 1  # type: ignore[call-overload]
        elif spec.kind == "flag":
            values[spec.dest] = True
        elif spec.repeat:
            existing = values.setdefault(spec.dest, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            values[spec.dest] = value
        if spec.group == "passthrough":
            passthrough.append(spec.names[-1] if spec.names[-1].startswith("--") else spec.names[0])
            if value is not None:
                passthrough.append(value)

    i = 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positionals.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            spec = _lookup(name)
            if spec.kind == "value":
                if eq:
                    value = inline
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"option {name} requires a value")
                store(spec, value, name)
            else:
                if eq:
                    raise UsageError(f"option {name} takes no value (got {arg!r})")
                store(spec, None, name)
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                short = "-" + arg[j]
                spec = _lookup(short)
                j += 1
                if spec.kind == "value":
                    if j < len(arg):
                        value = arg[j:]
                    elif i < len(args):
                        value = args[i]
                        i += 1
                    else:
                        raise UsageError(f"option {short} requires a value")
                    store(spec, value, short)
                    break
                store(spec, None, short)
        else:
            positionals.append(arg)
    return CommandLine(values=values, requirements=tuple(positionals),
                       passthrough=tuple(passthrough))


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
