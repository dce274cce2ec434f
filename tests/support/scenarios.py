"""Index scenarios as data: ``tests/data/indexes/*.toml``.

A scenario lists the files of an index; :func:`load_scenario` builds each one and publishes
it on a :class:`~support.index.LocalIndex` with ``upload_time = t0 + offset``. Format::

    description = "free text"        # optional
    [index]                          # optional
    mode = "html-only"               # optional, see support.index.IndexMode

    [[file]]
    id = "native"                    # optional key in the returned dict (default: filename)
    name = "demo"
    version = "1.0"
    kind = "wheel"                   # or "sdist"
    tag = "{native}"                 # wheels only; default "py3-none-any"; see expand_tag()
    build_tag = "1"                  # wheels only, optional
    offset = "90d"                   # s/m/h/d/w, compound ("1d12h") or negative ("-5m")
    # upload_time = "none"           # instead of offset: serve no upload-time
    # upload_time = "2024-01-01T00:00:00Z"   # or an absolute time
    requires_dist = ["dep>=1"]
    requires_python = ">=3.8"        # in the artifact's metadata and announced by the index
    provides_extra = []
    payload = "malicious"
    yanked = false                   # or true, or a reason string
    serve_metadata = true            # wheels: serve <file>.metadata (PEP 658)
    advertise_metadata = false       # announce it (PEP 714 core-metadata)
    static_metadata = true           # sdists: PKG-INFO 2.2 static, else Dynamic: Requires-Dist

Unknown keys are errors, so a typo cannot silently change a scenario.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.tags import sys_tags

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .artifacts import build_sdist, build_wheel
from .index import IndexedFile, LocalIndex

__all__ = [
    "SCENARIO_DIR",
    "expand_tag",
    "foreign_tag",
    "load_scenario",
    "most_specific_tag",
    "native_tag",
    "parse_offset",
    "scenario_path",
]

#: Where named scenarios live.
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "data" / "indexes"

_FILE_KEYS = {
    "id",
    "name",
    "version",
    "kind",
    "tag",
    "build_tag",
    "offset",
    "upload_time",
    "requires_dist",
    "requires_python",
    "provides_extra",
    "payload",
    "yanked",
    "serve_metadata",
    "advertise_metadata",
    "static_metadata",
}
_TOP_KEYS = {"description", "index", "file"}
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def native_tag() -> str:
    """The most specific wheel tag of the running interpreter that PyPI would accept.

    That is the first tag of ``packaging.tags.sys_tags()`` whose platform is not a bare
    ``linux_*`` (packaging >= 26 lists ``linux_x86_64`` first, but PyPI refuses such
    uploads), e.g. ``cp311-cp311-manylinux_2_36_x86_64``. pip prefers a wheel with this tag
    to any other file of the same version.
    """
    tags = list(sys_tags())
    for tag in tags:
        if not tag.platform.startswith("linux_"):
            return str(tag)
    return str(tags[0])


def most_specific_tag() -> str:
    """The very first tag of ``packaging.tags.sys_tags()`` (may be ``...-linux_x86_64``)."""
    return str(next(iter(sys_tags())))


def foreign_tag() -> str:
    """A wheel tag for this interpreter on another platform (``win_amd64``, or macOS on Windows).

    No wheel with it is installable here.
    """
    first = next(iter(sys_tags()))
    platform = "macosx_11_0_arm64" if sys.platform == "win32" else "win_amd64"
    tag = f"{first.interpreter}-{first.abi}-{platform}"
    if tag in {str(t) for t in sys_tags()}:  # pragma: no cover - defensive
        raise RuntimeError(f"{tag} unexpectedly matches the running interpreter")
    return tag


def expand_tag(tag: str) -> str:
    """Replace ``{native}``, ``{foreign}`` and ``{most_specific}`` in a scenario's tag."""
    return (
        tag.replace("{native}", native_tag())
        .replace("{foreign}", foreign_tag())
        .replace("{most_specific}", most_specific_tag())
    )


def parse_offset(text: str) -> timedelta:
    """Parse ``"0s"``, ``"5m"``, ``"36h"``, ``"90d"``, ``"2w"``, ``"1d12h"`` or ``"-5m"``."""
    match = re.fullmatch(r"\s*(-?)((?:\d+(?:\.\d+)?[wdhms])+)\s*", text)
    if not match:
        raise ValueError(f"invalid offset {text!r}: use e.g. '0s', '5m', '36h', '90d'")
    sign = -1 if match.group(1) else 1
    seconds = sum(
        float(number) * _UNITS[unit]
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)([wdhms])", match.group(2))
    )
    return timedelta(seconds=sign * seconds)


def scenario_path(path_or_name: str | Path) -> Path:
    """Resolve a scenario: an existing path, or a name in :data:`SCENARIO_DIR`."""
    candidate = Path(path_or_name)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    named = SCENARIO_DIR / f"{Path(path_or_name).stem}.toml"
    if named.is_file():
        return named
    raise FileNotFoundError(f"no scenario {path_or_name!r} (looked in {SCENARIO_DIR})")


def _upload_time(entry: dict[str, Any], t0: datetime) -> datetime | None:
    if "offset" in entry and "upload_time" in entry:
        raise ValueError("give either offset or upload_time, not both")
    if "upload_time" in entry:
        value = entry["upload_time"]
        if isinstance(value, datetime):
            moment = value
        elif value == "none":
            return None
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError(f"upload_time must carry a timezone: {value!r}")
        return moment
    return t0 + parse_offset(str(entry.get("offset", "0s")))


def load_scenario(
    path_or_name: str | Path, index: LocalIndex, work_dir: Path, t0: datetime
) -> dict[str, IndexedFile]:
    """Build every file of a scenario into ``work_dir`` and publish it on ``index``.

    Returns the published files keyed by each entry's ``id`` (or filename when it has none),
    in file order. The scenario's ``[index] mode``, when given, is applied to ``index``.
    """
    path = scenario_path(path_or_name)
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unknown)}")
    mode = data.get("index", {}).get("mode")
    if mode is not None:
        index.mode = mode
    published: dict[str, IndexedFile] = {}
    for number, entry in enumerate(data.get("file", [])):
        where = f"{path.name}: file #{number + 1}"
        unknown = set(entry) - _FILE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        kind = entry.get("kind", "wheel")
        out_dir = Path(work_dir) / "artifacts" / f"{path.stem}-{number:02d}"
        common: dict[str, Any] = {
            "requires_dist": entry.get("requires_dist", []),
            "requires_python": entry.get("requires_python"),
            "payload": entry.get("payload"),
        }
        if kind == "wheel":
            if "static_metadata" in entry:
                raise ValueError(f"{where}: static_metadata is for sdists")
            artifact = build_wheel(
                out_dir,
                entry["name"],
                str(entry["version"]),
                tag=expand_tag(entry.get("tag", "py3-none-any")),
                build_tag=entry.get("build_tag"),
                provides_extra=entry.get("provides_extra", []),
                **common,
            )
        elif kind == "sdist":
            for key in ("tag", "build_tag"):
                if key in entry:
                    raise ValueError(f"{where}: {key} is for wheels")
            artifact = build_sdist(
                out_dir,
                entry["name"],
                str(entry["version"]),
                static_metadata=entry.get("static_metadata", True),
                provides_extra=entry.get("provides_extra", []),
                **common,
            )
        else:
            raise ValueError(f"{where}: kind must be 'wheel' or 'sdist', not {kind!r}")
        indexed = index.add(
            artifact,
            upload_time=_upload_time(entry, t0),
            yanked=entry.get("yanked", False),
            requires_python=entry.get("requires_python"),
            serve_metadata=entry.get("serve_metadata", True),
            advertise_metadata=entry.get("advertise_metadata", False),
        )
        key = entry.get("id", indexed.filename)
        if key in published:
            raise ValueError(f"{where}: duplicate id {key!r}")
        published[key] = indexed
    return published
