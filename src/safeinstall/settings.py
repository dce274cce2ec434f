"""safe-install's own settings: command line > SAFE_INSTALL_* environment > config file > defaults.

The config file (``safe-install.toml`` in the working directory, or ``--config FILE``, or
``SAFE_INSTALL_CONFIG``) is meant to be committed next to the requirements, so exceptions are
reviewed like code and carry a reason::

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
``times-from`` takes the highest layer that sets it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeinstall.durations import parse_duration
from safeinstall.errors import UsageError
from safeinstall.pipoptions import CommandLine
from safeinstall.policy import LateException, Policy, parse_action

DEFAULT_CONFIG_NAME = "safe-install.toml"
_SCALARS = ("late-after", "on-late", "on-unknown-upload-time", "on-untrusted-hash",
            "on-unverifiable", "on-multiple-indexes", "report", "cache-dir")
_LISTS = ("allow-late", "times-from", "index-for")


@dataclass(frozen=True)
class Settings:
    policy: Policy
    report: str | None
    cache_dir: str | None
    config_path: str | None
    sources: Mapping[str, str]  # setting -> where its value came from
    times_from: tuple[str, ...] = ()  # indexes used only to date identical files
    index_for: Mapping[str, str] = field(default_factory=dict)  # normalized name -> location


def _load_file(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported only when there is a file to read
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}: "
                         f"{exc.reason})", hint="TOML files are UTF-8; save it as UTF-8") \
            from None
    unknown = set(data) - set(_SCALARS) - set(_LISTS)
    if unknown:
        raise UsageError(
            f"config file {str(path)!r} has unknown keys: {', '.join(sorted(unknown))}",
            hint=f"known keys: {', '.join(_SCALARS + _LISTS)}",
        )
    return data


def load_settings(cmd: CommandLine, environ: Mapping[str, str], cwd: Path) -> Settings:
    config_path: Path | None = None
    explicit = cmd.get("config_file") or environ.get("SAFE_INSTALL_CONFIG")
    if explicit:
        config_path = (cwd / str(explicit)).resolve()
        if not config_path.is_file():
            raise UsageError(f"config file {str(explicit)!r} does not exist")
    elif (cwd / DEFAULT_CONFIG_NAME).is_file():
        config_path = cwd / DEFAULT_CONFIG_NAME
    file_data = _load_file(config_path) if config_path else {}

    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in _SCALARS:
        dest = key.replace("-", "_")
        env_key = "SAFE_INSTALL_" + dest.upper()
        cli = cmd.get(dest) if key != "cache-dir" else None  # --cache-dir is pip's
        if cli is not None:
            values[key], sources[key] = str(cli), "command line"
        elif environ.get(env_key):
            values[key], sources[key] = environ[env_key], env_key
        elif key in file_data:
            values[key], sources[key] = str(file_data[key]), str(config_path)

    exceptions: list[LateException] = []
    raw_cli = cmd.get("allow_late") or []
    assert isinstance(raw_cli, list)
    for item in raw_cli:
        exceptions.append(LateException.parse(str(item), origin="--allow-late"))
    for item in environ.get("SAFE_INSTALL_ALLOW_LATE", "").replace(",", " ").split():
        exceptions.append(LateException.parse(item, origin="SAFE_INSTALL_ALLOW_LATE"))
    entries = file_data.get("allow-late", [])
    if not isinstance(entries, list):
        raise UsageError(f"{config_path}: allow-late must be an array of tables")
    for i, entry in enumerate(entries, 1):
        where = f"{config_path} allow-late #{i}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a table with release/sha256 and reason")
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise UsageError(f"{where}: every exception needs a reason",
                             hint='add reason = "why this late file is acceptable"')
        if ("release" in entry) == ("sha256" in entry):
            raise UsageError(f"{where}: give exactly one of release = 'NAME==VERSION' or "
                             "sha256 = 'HEX'")
        text = str(entry["release"]) if "release" in entry else f"sha256:{entry['sha256']}"
        exceptions.append(LateException.parse(text, reason=reason, origin=where))

    late_after = parse_duration(values["late-after"]) if "late-after" in values \
        else Policy().late_after
    policy = Policy(
        late_after=late_after,
        on_late=parse_action(values.get("on-late", "refuse"), "--on-late"),
        on_unknown_upload_time=parse_action(values.get("on-unknown-upload-time", "refuse"),
                                            "--on-unknown-upload-time"),
        on_untrusted_hash=parse_action(values.get("on-untrusted-hash", "warn"),
                                       "--on-untrusted-hash"),
        on_unverifiable=parse_action(values.get("on-unverifiable", "refuse"),
                                     "--on-unverifiable"),
        on_multiple_indexes=parse_action(values.get("on-multiple-indexes", "refuse"),
                                         "--on-multiple-indexes"),
        allow_late=tuple(exceptions),
    )
    return Settings(
        policy=policy,
        report=values.get("report"),
        cache_dir=values.get("cache-dir"),
        config_path=str(config_path) if config_path else None,
        sources=sources,
        times_from=_times_from(cmd, environ, file_data, config_path),
        index_for=_index_for(cmd, environ, file_data, config_path),
    )


def _url_value(value: object, where: str, option: str) -> str:
    text = str(value).strip() if isinstance(value, str) else ""
    if not text:
        raise UsageError(f"{where}: {option} needs an index URL (or find-links location), got "
                         f"{value!r}")
    return text


def _times_from(cmd: CommandLine, environ: Mapping[str, str], file_data: Mapping[str, Any],
                config_path: Path | None) -> tuple[str, ...]:
    raw_cli = cmd.get("times_from") or []
    assert isinstance(raw_cli, list)
    if raw_cli:
        return tuple(_url_value(v, "the command line", "--times-from") for v in raw_cli)
    if environ.get("SAFE_INSTALL_TIMES_FROM", "").strip():
        return tuple(environ["SAFE_INSTALL_TIMES_FROM"].replace(",", " ").split())
    if "times-from" in file_data:
        value = file_data["times-from"]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise UsageError(f"{config_path}: times-from must be a URL or a list of URLs")
        return tuple(_url_value(v, str(config_path), "times-from") for v in items)
    return ()


def _index_for(cmd: CommandLine, environ: Mapping[str, str], file_data: Mapping[str, Any],
               config_path: Path | None) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    table = file_data.get("index-for", {})
    if not isinstance(table, dict):
        raise UsageError(f"{config_path}: index-for must be a table of name = \"index URL\"",
                         hint='e.g. [index-for] then mycorp-utils = "https://pypi.mycorp/simple/"')
    for name, url in table.items():
        pins[canonicalize_name(name)] = _url_value(url, f"{config_path} [index-for] {name}",
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


__all__ = ["Settings", "load_settings", "default_cache_dir", "run_cache_dir"]
