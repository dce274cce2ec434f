"""safe-install's own settings: command line > SAFE_INSTALL_* environment > config files > defaults.

Config files (see docs/reference.md, "Configuration files"), highest first:

1. ``--config FILE`` or ``SAFE_INSTALL_CONFIG=FILE``: that file only (no discovery); the null
   device (``/dev/null``, ``NUL``) means no config file at all;
2. otherwise the nearest project file, looked for from the working directory up to the
   repository root (the first directory with ``.git``, ``.hg`` or ``.svn``; without a
   repository, the working directory only): in each directory ``safe-install.toml``, else the
   ``[tool.safe-install]`` table of ``pyproject.toml``;
3. below it, the user's file: ``$XDG_CONFIG_HOME/safe-install/config.toml`` (platformdirs'
   user config directory elsewhere).

Project files are meant to be committed, so exceptions are reviewed like code and carry a
reason::

    late-after = "36h"
    on-late = "refuse"

    [[allow-late]]
    release = "numpy==1.26.4"          # or: sha256 = "<64 hex digits>"
    reason = "cp313 wheels backfilled by upstream, diffed against the cp312 wheel"

``--allow-late`` values from every layer are combined; scalar settings take the highest layer.

A name that must come from one index only (against dependency confusion) is pinned there; no
other index is asked about it. ``times-from`` names indexes used only to date the files of a
mirror without upload times (matched by file name and sha256)::

    times-from = ["https://pypi.org/simple/"]

    [index-for]
    mycorp-utils = "https://pypi.mycorp.example/simple/"

``--index-for`` pins from every layer are combined (the highest layer wins per name);
``times-from`` takes the highest layer that sets it. Every value is checked for its type; a
wrong one is a usage error (exit 2) naming the key and where it was set.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from safeinstall.cmdline import CommandLine
from safeinstall.durations import parse_duration
from safeinstall.errors import UsageError
from safeinstall.policy import LateException, Policy, parse_action, parse_late_action

DEFAULT_CONFIG_NAME = "safe-install.toml"
PYPROJECT_NAME = "pyproject.toml"
USER_CONFIG_NAME = "config.toml"
_REPOSITORY_MARKERS = (".git", ".hg", ".svn")
_NULL_DEVICES = frozenset({os.devnull, "/dev/null", "nul"})
_SCALARS = ("late-after", "on-late", "on-unknown-upload-time", "on-untrusted-hash",
            "on-unverifiable", "on-multiple-indexes", "report", "cache-dir")
_LISTS = ("allow-late", "times-from", "index-for")


@dataclass(frozen=True)
class ConfigFile:
    """One config file that was read: its path, the table that holds our settings (the whole
    file, or ``[tool.safe-install]`` of a pyproject.toml) and a label for messages."""

    path: Path
    data: Mapping[str, Any]
    label: str


@dataclass(frozen=True)
class Settings:
    policy: Policy
    report: str | None
    cache_dir: str | None
    config_path: str | None  # the highest config file read, if any
    sources: Mapping[str, str]  # setting -> where its value came from
    times_from: tuple[str, ...] = ()  # indexes used only to date identical files
    index_for: Mapping[str, str] = field(default_factory=dict)  # normalized name -> location
    config_files: tuple[str, ...] = ()  # every config file read, highest first


def _toml() -> Any:
    if sys.version_info >= (3, 11):  # imported only when there is a file to read
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def _read_toml(path: Path) -> dict[str, Any]:
    tomllib = _toml()
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}: "
                         f"{exc.reason})", hint="TOML files are UTF-8; save it as UTF-8") \
            from None
    return data


def _check_keys(data: Mapping[str, Any], label: str) -> None:
    unknown = set(data) - set(_SCALARS) - set(_LISTS)
    if unknown:
        raise UsageError(
            f"config file {label} has unknown keys: {', '.join(sorted(unknown))}",
            hint=f"known keys: {', '.join(_SCALARS + _LISTS)}",
        )


def _load_file(path: Path) -> ConfigFile:
    data = _read_toml(path)
    label = repr(str(path))
    _check_keys(data, label)
    return ConfigFile(path, data, str(path))


def _load_pyproject(path: Path) -> ConfigFile | None:
    """The ``[tool.safe-install]`` table of ``path``, or None when it has none."""
    data = _read_toml(path)
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "safe-install" not in tool:
        return None
    table = tool["safe-install"]
    label = f"{str(path)!r} [tool.safe-install]"
    if not isinstance(table, dict):
        raise UsageError(f"config file {label} must be a table")
    _check_keys(table, label)
    return ConfigFile(path, table, f"{path} [tool.safe-install]")


def is_null_device(value: str) -> bool:
    return value.strip().lower() in _NULL_DEVICES or value.strip() == os.devnull


def user_config_path(environ: Mapping[str, str]) -> Path:
    """The user-level config file: ``$XDG_CONFIG_HOME/safe-install/config.toml``, else
    platformdirs' user config directory for safe-install."""
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "safe-install" / USER_CONFIG_NAME
    from platformdirs import user_config_dir

    return Path(user_config_dir("safe-install", appauthor=False)) / USER_CONFIG_NAME


def _writable_by_anyone(directory: Path) -> bool:
    """``directory`` can be written by any user (as /tmp)."""
    try:
        return bool(directory.stat().st_mode & stat.S_IWOTH)
    except OSError:
        return False


def _shared_directory(directory: Path) -> bool:
    """Files in ``directory`` may have been put there by another user: it can be written by
    any user, or belongs to another user than this one or root. (Where ownership cannot be
    told, Windows, only the first.)"""
    if _writable_by_anyone(directory):
        return True
    if not hasattr(os, "geteuid"):  # pragma: no cover
        return False
    try:
        return directory.stat().st_uid not in (os.geteuid(), 0)
    except OSError:
        return False


def project_config(cwd: Path) -> ConfigFile | None:
    """The nearest project config file from ``cwd`` up to the repository root (see the module
    docstring): ``safe-install.toml``, else ``[tool.safe-install]`` in ``pyproject.toml``.

    Config can relax the policy, so it is read only where the user put it: the search never
    goes up into a directory that another user could have written to (any user can write to
    /tmp, and ``/tmp/.git`` next to ``/tmp/safe-install.toml`` would otherwise make /tmp the
    "repository" of every directory under it), and a config file in a working directory that
    any user can write to is refused (name it with ``--config`` to use it)."""
    start = cwd.resolve() if cwd.is_absolute() else Path(os.path.abspath(cwd))
    chain = [start]
    for parent in start.parents:
        if _shared_directory(parent):
            break
        chain.append(parent)
    root = next((i for i, d in enumerate(chain)
                 if any((d / m).exists() for m in _REPOSITORY_MARKERS)), None)
    # without a repository only the working directory: a parent such as /tmp may hold a
    # file that someone else wrote, and config can relax the policy
    for directory in chain[:1 if root is None else root + 1]:
        for name in (DEFAULT_CONFIG_NAME, PYPROJECT_NAME):
            path = directory / name
            if not path.is_file():
                continue
            found = _load_file(path) if name == DEFAULT_CONFIG_NAME else _load_pyproject(path)
            if found is None:
                continue
            # (the working directory may belong to another user: the user chose to work there)
            if _writable_by_anyone(directory):
                raise UsageError(
                    f"config file {found.label} was not used: {directory} can be written by "
                    "any user, so the file may have been written by someone else (and config "
                    "can relax the policy)",
                    hint=f"if you trust it, name it: --config {path} (or SAFE_INSTALL_CONFIG); "
                    f"otherwise work in a directory of your own, or --config {os.devnull}")
            return found
    return None


def config_files(cmd: CommandLine, environ: Mapping[str, str], cwd: Path) -> list[ConfigFile]:
    """The config files that apply, highest first."""
    explicit = cmd.get("config_file") or environ.get("SAFE_INSTALL_CONFIG")
    if explicit:
        text = str(explicit)
        if is_null_device(text):
            return []
        where = "--config" if cmd.get("config_file") else "SAFE_INSTALL_CONFIG"
        path = (cwd / text).resolve()
        if not path.is_file():
            raise UsageError(f"config file {text!r} ({where}) does not exist",
                             hint=f"give an existing file, or {os.devnull} for no config file")
        if path.name == PYPROJECT_NAME:
            found = _load_pyproject(path)
            if found is None:
                raise UsageError(f"config file {text!r} ({where}) has no [tool.safe-install] "
                                 "table")
            return [found]
        return [_load_file(path)]
    files: list[ConfigFile] = []
    project = project_config(cwd)
    if project is not None:
        files.append(project)
    user = user_config_path(environ)
    if user.is_file() and (project is None or user.resolve() != project.path.resolve()):
        files.append(_load_file(user))
    return files


# -- value checks: each names the key and where it was set ----------------------------------------


def _string(value: object, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {key} must be a non-empty string, got {value!r}",
                         hint=f'e.g. {key} = "{_EXAMPLES.get(key, "...")}"')
    return value


_EXAMPLES = {"late-after": "36h", "on-late": "refuse", "on-unknown-upload-time": "refuse",
             "on-untrusted-hash": "warn", "on-unverifiable": "refuse",
             "on-multiple-indexes": "refuse", "report": "safe-install-report.json",
             "cache-dir": "/var/cache/safe-install",
             "times-from": "https://pypi.org/simple/"}


def _duration(value: str, option: str) -> Any:
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc.message}", hint=exc.hint) from None


def _check_scalar(key: str, value: str, label: str) -> None:
    try:
        if key == "late-after":
            parse_duration(value)
        elif key == "on-late":
            parse_late_action(value, key)
        elif key.startswith("on-"):
            parse_action(value, key)
    except UsageError as exc:
        raise UsageError(f"config file {label}: {key}: {exc.message}", hint=exc.hint) from None


def _url_value(value: object, where: str, option: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise UsageError(f"{where}: {option} needs an index URL (or find-links location), got "
                         f"{value!r}", hint=f"e.g. {option} = \"{_EXAMPLES['times-from']}\"")
    return text


def _index_url(value: object, where: str, option: str) -> str:
    """An index URL: http(s)://HOST/... or file://..."""
    text = _url_value(value, where, option)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https", "file") or (
            parts.scheme.lower() != "file" and not parts.netloc):
        raise UsageError(f"{where}: {option} value {text!r} is not an index URL",
                         hint="write an http(s):// or file:// URL, e.g. "
                         f"{_EXAMPLES['times-from']}")
    return text


def load_settings(cmd: CommandLine, environ: Mapping[str, str], cwd: Path) -> Settings:
    files = config_files(cmd, environ, cwd)

    for cf in files:  # every value of every file is checked, also one a higher layer overrides
        for key in _SCALARS:
            if key in cf.data:
                _check_scalar(key, _string(cf.data[key], key, f"config file {cf.label}"),
                              cf.label)

    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in _SCALARS:
        dest = key.replace("-", "_")
        env_key = "SAFE_INSTALL_" + dest.upper()
        cli = cmd.get(dest) if key != "cache-dir" else None  # --cache-dir is pip's
        if cli is not None:
            values[key], sources[key] = str(cli), "--" + key
        elif environ.get(env_key):
            values[key], sources[key] = environ[env_key], env_key
        else:
            for cf in files:
                if key in cf.data:
                    values[key] = _string(cf.data[key], key, f"config file {cf.label}")
                    sources[key] = cf.label
                    break

    def parsed(key: str, parse: Callable[[str, str], Any]) -> Any:
        """The value of ``key`` parsed, with an error naming the key and where it was set."""
        source = sources[key]
        if source.startswith(("--", "SAFE_INSTALL_")):
            return parse(values[key], source)
        try:
            return parse(values[key], key)
        except UsageError as exc:
            raise UsageError(f"config file {source}: {exc.message}", hint=exc.hint) from None

    exceptions: list[LateException] = []
    raw_cli = cmd.get("allow_late") or []
    assert isinstance(raw_cli, list)
    for item in raw_cli:
        exceptions.append(LateException.parse(str(item), origin="--allow-late"))
    for item in environ.get("SAFE_INSTALL_ALLOW_LATE", "").replace(",", " ").split():
        exceptions.append(LateException.parse(item, origin="SAFE_INSTALL_ALLOW_LATE"))
    for cf in files:
        exceptions += _file_exceptions(cf)

    def action(key: str, default: str) -> Any:
        return parsed(key, parse_action) if key in values else parse_action(default, key)

    late_after = parsed("late-after", _duration) if "late-after" in values \
        else Policy().late_after
    policy = Policy(
        late_after=late_after,
        on_late=parsed("on-late", parse_late_action) if "on-late" in values else "refuse",
        on_unknown_upload_time=action("on-unknown-upload-time", "refuse"),
        on_untrusted_hash=action("on-untrusted-hash", "warn"),
        on_unverifiable=action("on-unverifiable", "refuse"),
        on_multiple_indexes=action("on-multiple-indexes", "refuse"),
        allow_late=tuple(exceptions),
    )
    return Settings(
        policy=policy,
        report=values.get("report"),
        cache_dir=values.get("cache-dir"),
        config_path=str(files[0].path) if files else None,
        sources=sources,
        times_from=_times_from(cmd, environ, files),
        index_for=_index_for(cmd, environ, files),
        config_files=tuple(cf.label for cf in files),
    )


def _file_exceptions(cf: ConfigFile) -> list[LateException]:
    entries = cf.data.get("allow-late", [])
    if not isinstance(entries, list):
        raise UsageError(f"config file {cf.label}: allow-late must be an array of tables",
                         hint='write [[allow-late]], then release = "NAME==VERSION" and '
                         'reason = "..." on their own lines')
    out: list[LateException] = []
    for i, entry in enumerate(entries, 1):
        where = f"{cf.label} allow-late #{i}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a table with release/sha256 and reason")
        unknown = set(entry) - {"release", "sha256", "reason"}
        if unknown:
            raise UsageError(f"{where}: unknown keys {', '.join(sorted(unknown))}",
                             hint="an exception has release (or sha256) and reason")
        reason = entry.get("reason", "")
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError(f"{where}: every exception needs a reason",
                             hint='add reason = "why this late file is acceptable"')
        if ("release" in entry) == ("sha256" in entry):
            raise UsageError(f"{where}: give exactly one of release = 'NAME==VERSION' or "
                             "sha256 = 'HEX'")
        key = "release" if "release" in entry else "sha256"
        if not isinstance(entry[key], str):
            raise UsageError(f"{where}: {key} must be a string, got {entry[key]!r}")
        text = entry["release"] if key == "release" else f"sha256:{entry['sha256']}"
        out.append(LateException.parse(text, reason=reason.strip(), origin=where))
    return out


def _times_from(cmd: CommandLine, environ: Mapping[str, str],
                files: Sequence[ConfigFile]) -> tuple[str, ...]:
    raw_cli = cmd.get("times_from") or []
    assert isinstance(raw_cli, list)
    if raw_cli:
        return tuple(_index_url(v, "the command line", "--times-from") for v in raw_cli)
    if environ.get("SAFE_INSTALL_TIMES_FROM", "").strip():
        return tuple(_index_url(v, "SAFE_INSTALL_TIMES_FROM", "times-from")
                     for v in environ["SAFE_INSTALL_TIMES_FROM"].replace(",", " ").split())
    for cf in files:
        if "times-from" in cf.data:
            value = cf.data["times-from"]
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list):
                raise UsageError(f"config file {cf.label}: times-from must be a URL or a list "
                                 f"of URLs, got {value!r}",
                                 hint=f'e.g. times-from = ["{_EXAMPLES["times-from"]}"]')
            return tuple(_index_url(v, f"config file {cf.label}", "times-from") for v in items)
    return ()


def _index_for(cmd: CommandLine, environ: Mapping[str, str],
               files: Sequence[ConfigFile]) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for cf in reversed(files):  # lowest layer first: higher ones override per name
        table = cf.data.get("index-for", {})
        if not isinstance(table, dict):
            raise UsageError(f"config file {cf.label}: index-for must be a table of "
                             'name = "index URL"',
                             hint='e.g. [index-for] then mycorp-utils = '
                             '"https://pypi.mycorp/simple/"')
        for name, url in table.items():
            pins[canonicalize_name(name)] = _url_value(url, f"{cf.label} [index-for] {name}",
                                                       "a pin")

    def parse(item: str, where: str) -> None:
        name, eq, url = item.partition("=")
        if not eq or not name.strip() or not url.strip():
            raise UsageError(f"invalid --index-for value {item!r} ({where})",
                             hint="write NAME=INDEX_URL, e.g. mycorp-utils="
                             "https://pypi.mycorp.example/simple/")
        pins[canonicalize_name(name.strip())] = url.strip()

    for item in environ.get("SAFE_INSTALL_INDEX_FOR", "").replace(",", " ").split():
        parse(item, "SAFE_INSTALL_INDEX_FOR")
    raw_cli = cmd.get("index_for") or []
    assert isinstance(raw_cli, list)
    for item in raw_cli:
        parse(str(item), "--index-for")
    return pins


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    from platformdirs import user_cache_dir

    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / "safe-install"
    return Path(user_cache_dir("safe-install", appauthor=False))


def check_report_destination(dest: str | None, source: str = "--report") -> None:
    """A usage error naming ``dest`` when a report cannot be written there (checked before
    anything is installed). The file is created to find out, and removed again if it did not
    exist (the run writes it whatever its outcome)."""
    if not dest or dest == "-":
        return
    path = Path(dest)
    if path.is_dir():
        raise UsageError(f"cannot write the report to {dest!r} (from {source}): it is a "
                         "directory", hint="give a file name, e.g. --report report.json")
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write the report to {dest!r} (from {source}): "
                         f"{exc.strerror or exc}",
                         hint="give a writable location (nothing was installed)") from None
    if not existed:
        with contextlib.suppress(OSError):
            path.unlink()


def run_cache_dir(ours: Settings, environ: Mapping[str, str], *, no_cache: bool) -> Path | None:
    """The run's cache directory (None with ``--no-cache-dir``): safe-install's setting
    (``SAFE_INSTALL_CACHE_DIR`` or ``cache-dir``), else the default. A location that cannot be
    a directory (a regular file, or under one) is a usage error naming it and where it was set."""
    if no_cache:
        return None
    path = Path(ours.cache_dir) if ours.cache_dir else default_cache_dir(environ)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        source = ours.sources.get("cache-dir", "the default cache location")
        what = "is not a directory" if existing == path else f"is under {str(existing)!r}, " \
            "which is not a directory"
        raise UsageError(f"cache directory {str(path)!r} (from {source}) {what}",
                         hint="point SAFE_INSTALL_CACHE_DIR (or cache-dir in safe-install.toml) "
                         "at a directory, or pass --no-cache-dir")
    return path


__all__ = ["ConfigFile", "Settings", "check_report_destination", "config_files",
           "default_cache_dir", "load_settings", "project_config", "run_cache_dir",
           "user_config_path"]
