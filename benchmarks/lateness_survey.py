#!/usr/bin/env python3
"""Survey how late real artifacts are added to their releases, to pick ``--late-after``.

Definitions (the same as safe-install's):

* release start = the earliest ``upload-time`` among all files of a version on the index;
* a file's lateness = its ``upload-time`` minus the release start;
* a finding at threshold T = a file whose lateness is > T.

What is measured:

1. every release of every project named in the requirement corpus (or a list file):
   the spread (max lateness) and the share of releases with any file later than
   1h/6h/1d/3d/7d/14d, for all releases and by cohort of release start;
2. the false-positive rate users would see: for each pinned ``name==version`` in the
   corpus and for the version ``pip install NAME`` gets today (latest non-prerelease
   release installable on the target), the file pip would select on CPython 3.11.7,
   manylinux x86_64 (glibc 2.36), and its lateness;
3. what the late files are (backfills for a CPython released after the release
   started, new platforms, free-threaded builds, ...).

Only the PEP 691 JSON simple API is used (one request per project, at most 8 at a
time, cached on disk for reruns).

    .venv/bin/python benchmarks/lateness_survey.py
    .venv/bin/python benchmarks/lateness_survey.py --projects names.txt --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import glob
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "pypi"
DEFAULT_OUT = HERE / "results" / "lateness_survey.json"
DEFAULT_INDEX = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json"
MAX_JOBS = 8

HOUR = 3600.0
DAY = 24 * HOUR
# Thresholds (label, seconds).
RELEASE_THRESHOLDS = [
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
    ("3d", 3 * DAY),
    ("7d", 7 * DAY),
    ("14d", 14 * DAY),
]
SELECT_THRESHOLDS = [
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("12h", 12 * HOUR),
    ("1d", DAY),
    ("3d", 3 * DAY),
    ("7d", 7 * DAY),
    ("14d", 14 * DAY),
]
COHORTS = [
    ("all", None),
    ("since 2023-01-01", dt.datetime(2023, 1, 1, tzinfo=dt.UTC)),
    ("since 2025-01-01", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
    # PyPI refuses new files for releases older than 14 days since July 2026.
    ("since 2026-07-01", dt.datetime(2026, 7, 1, tzinfo=dt.UTC)),
]

# First final release of each CPython feature version.
CPYTHON_RELEASES: dict[tuple[int, int], dt.date] = {
    (2, 7): dt.date(2010, 7, 3),
    (3, 2): dt.date(2011, 2, 20),
    (3, 3): dt.date(2012, 9, 29),
    (3, 4): dt.date(2014, 3, 16),
    (3, 5): dt.date(2015, 9, 13),
    (3, 6): dt.date(2016, 12, 23),
    (3, 7): dt.date(2018, 6, 27),
    (3, 8): dt.date(2019, 10, 14),
    (3, 9): dt.date(2020, 10, 5),
    (3, 10): dt.date(2021, 10, 4),
    (3, 11): dt.date(2022, 10, 24),
    (3, 12): dt.date(2023, 10, 2),
    (3, 13): dt.date(2024, 10, 7),
    (3, 14): dt.date(2025, 10, 7),
}

# --------------------------------------------------------------------------- target

TARGET_PYTHON = Version("3.11.7")
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
    "extra": "",
}


def target_platforms() -> list[str]:
    """Platform tags of glibc 2.36 x86_64 Linux, in the order pip 26 (packaging >= 26) uses:
    linux_x86_64 first, then manylinux_2_36 down to manylinux_2_5 with the legacy aliases."""
    plats: list[str] = ["linux_x86_64"]
    legacy = {17: "manylinux2014_x86_64", 12: "manylinux2010_x86_64", 5: "manylinux1_x86_64"}
    for minor in range(36, 4, -1):
        plats.append(f"manylinux_2_{minor}_x86_64")
        if minor in legacy:
            plats.append(legacy[minor])
    return plats


def target_tags() -> dict[Tag, int]:
    """Supported tags for CPython 3.11 on manylinux x86_64, mapped to their rank (0 = best)."""
    plats = target_platforms()
    tags = list(cpython_tags((3, 11), abis=["cp311"], platforms=plats))
    tags += list(compatible_tags((3, 11), "cp311", plats))
    ranks: dict[Tag, int] = {}
    for i, tag in enumerate(tags):
        ranks.setdefault(tag, i)
    return ranks


TAG_RANK = target_tags()

# --------------------------------------------------------------------------- files

SDIST_EXTS = (
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar.lz",
    ".tar.lzma",
    ".tlz",
    ".tar",
    ".zip",
)  # pip's accepted archive formats
OTHER_EXTS = (".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb", ".pkg")


def file_kind(filename: str) -> str:
    low = filename.lower()
    if low.endswith(".whl"):
        return "wheel"
    if low.endswith(SDIST_EXTS):
        return "sdist"
    return "other"


def strip_ext(filename: str) -> str:
    low = filename.lower()
    for ext in (".whl", *SDIST_EXTS, *OTHER_EXTS):
        if low.endswith(ext):
            return filename[: -len(ext)]
    return filename


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def version_key(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text.strip().lower()


@dataclass
class File:
    filename: str
    uploaded: dt.datetime
    yanked: bool
    requires_python: str | None
    kind: str
    tags: frozenset[Tag] = frozenset()
    build: tuple[Any, ...] = ()
    lateness: float = 0.0  # seconds after release start


@dataclass
class Release:
    key: str
    label: str
    files: list[File] = field(default_factory=list)
    start: dt.datetime | None = None

    @property
    def spread(self) -> float:
        return max((f.lateness for f in self.files), default=0.0)


def name_prefix_re(canonical: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in canonical.split("-")]
    return re.compile("^" + "[-_.]+".join(parts) + "-", re.IGNORECASE)


def attribute_version(
    filename: str, kind: str, prefix: re.Pattern[str], versions: list[str]
) -> tuple[str, str, frozenset[Tag], tuple[Any, ...]] | None:
    """(key, label, tags, build) of the release a file belongs to, or None."""
    if kind == "wheel":
        try:
            _, ver, build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            pass
        else:
            return str(ver), str(ver), frozenset(tags), tuple(build)
    stem = strip_ext(filename)
    m = prefix.match(stem)
    if m:
        rest = stem[m.end() :]
    else:  # renamed project or odd spelling: version starts after the first "-<digit>"
        m2 = re.search(r"-(?=\d)", stem)
        if not m2:
            return None
        rest = stem[m2.end() :]
    low = rest.lower()
    for v in versions:  # longest first
        vl = v.lower()
        if low.startswith(vl) and (len(low) == len(vl) or low[len(vl)] in "-._+"):
            return version_key(v), v, frozenset(), ()
    head = rest.split("-")[0]
    try:
        return str(Version(head)), head, frozenset(), ()
    except InvalidVersion:
        return None


@dataclass
class Project:
    name: str
    releases: dict[str, Release]
    unattributed: int
    files: int


def build_project(name: str, page: dict[str, Any]) -> Project:
    versions = sorted(page.get("versions") or [], key=len, reverse=True)
    prefix = name_prefix_re(canonicalize_name(name))
    releases: dict[str, Release] = {}
    unattributed = 0
    nfiles = 0
    for f in page.get("files", []):
        uploaded = parse_time(f.get("upload-time"))
        if uploaded is None:
            unattributed += 1
            continue
        nfiles += 1
        kind = file_kind(f["filename"])
        attr = attribute_version(f["filename"], kind, prefix, versions)
        if attr is None:
            unattributed += 1
            continue
        key, label, tags, build = attr
        rel = releases.setdefault(key, Release(key=key, label=label))
        rel.files.append(
            File(
                filename=f["filename"],
                uploaded=uploaded,
                yanked=bool(f.get("yanked")),
                requires_python=f.get("requires-python"),
                kind=kind,
                tags=tags,
                build=build,
            )
        )
    for rel in releases.values():
        rel.start = min(f.uploaded for f in rel.files)
        for f in rel.files:
            f.lateness = (f.uploaded - rel.start).total_seconds()
    return Project(name=name, releases=releases, unattributed=unattributed, files=nfiles)


# --------------------------------------------------------------------------- fetching


def cache_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"{canonicalize_name(name)}.json.gz"


def fetch_page(
    name: str, index: str, cache_dir: Path, refresh: bool
) -> tuple[str, dict[str, Any] | None, str | None, bool]:
    """(name, page, error, from_cache)."""
    path = cache_path(cache_dir, name)
    if path.exists() and not refresh:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return name, json.load(fh), None, True
    url = index.rstrip("/") + "/" + canonicalize_name(name) + "/"
    req = urllib.request.Request(
        url,
        headers={
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip",
            "User-Agent": "safe-install-lateness-survey/0.1",
        },
    )
    last_err = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                body = resp.read()
                if resp.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
            page = json.loads(body)
            tmp = path.with_suffix(".tmp")
            with gzip.open(tmp, "wb") as fh:
                fh.write(body)
            os.replace(tmp, path)
            return name, page, None, False
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return name, None, "404 not found", False
            last_err = f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            last_err = f"{type(exc).__name__}: {exc}"
        time.sleep(1.5 * (attempt + 1))
    return name, None, last_err, False


def fetch_all(
    names: list[str], index: str, cache_dir: Path, refresh: bool, jobs: int
) -> tuple[dict[str, dict[str, Any]], dict[str, str], int]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    pages: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    cached = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = [pool.submit(fetch_page, n, index, cache_dir, refresh) for n in names]
        for i, fut in enumerate(concurrent.futures.as_completed(futs), 1):
            name, page, err, from_cache = fut.result()
            cached += from_cache
            if page is None:
                errors[name] = err or "unknown error"
            else:
                pages[name] = page
            if i % 100 == 0 or i == len(names):
                print(f"  fetched {i}/{len(names)} ({cached} from cache)", file=sys.stderr)
    return pages, errors, cached


# --------------------------------------------------------------------------- corpus


def requirement_lines(path: Path) -> list[str]:
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.split(r"(^|\s)#", raw, maxsplit=1)[0].strip()
        line = line.rstrip("\\").strip()
        if not line or line.startswith("-"):
            continue
        # drop trailing per-requirement options such as --hash=...
        line = re.split(r"\s+--", line, maxsplit=1)[0].strip()
        out.append(line)
    return out


@dataclass
class Pin:
    name: str
    spec: str
    sets: set[str]
    marker_ok: bool


def read_corpus(files: list[Path]) -> tuple[list[str], dict[tuple[str, str], Pin], list[str]]:
    names: set[str] = set()
    pins: dict[tuple[str, str], Pin] = {}
    bad: list[str] = []
    for path in files:
        for line in requirement_lines(path):
            try:
                req = Requirement(line)
            except InvalidRequirement:
                # a bare project name list may contain things Requirement rejects
                bad.append(f"{path.name}: {line}")
                continue
            name = canonicalize_name(req.name)
            names.add(name)
            specs = list(req.specifier)
            if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
                marker_ok = req.marker is None or req.marker.evaluate(dict(TARGET_ENV))
                key = (name, specs[0].version)
                pin = pins.setdefault(key, Pin(name, specs[0].version, set(), marker_ok))
                pin.sets.add(path.name)
                pin.marker_ok = pin.marker_ok or marker_ok
    return sorted(names), pins, bad


# --------------------------------------------------------------------------- selection


def requires_python_ok(rp: str | None) -> bool:
    if not rp or not rp.strip():
        return True
    try:
        return SpecifierSet(rp).contains(TARGET_PYTHON, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores an invalid Requires-Python


def select_file(rel: Release, allow_yanked: bool) -> tuple[File | None, bool]:
    """The file pip would pick for this release on the target, and whether it is yanked."""

    def best(files: list[File]) -> File | None:
        ranked: list[tuple[tuple[Any, ...], File]] = []
        for f in files:
            if not requires_python_ok(f.requires_python):
                continue
            if f.kind == "wheel":
                ranks = [TAG_RANK[t] for t in f.tags if t in TAG_RANK]
                if not ranks:
                    continue
                ranked.append(((1, -min(ranks), f.build), f))
            elif f.kind == "sdist":
                ranked.append(((0, 0, ()), f))
        if not ranked:
            return None
        ranked.sort(key=lambda item: item[0])
        return ranked[-1][1]

    chosen = best([f for f in rel.files if not f.yanked])
    if chosen is not None:
        return chosen, False
    if allow_yanked:  # an == pin may select a yanked release (PEP 592), as pip does
        chosen = best([f for f in rel.files if f.yanked])
        return chosen, chosen is not None
    return None, False


def newest_cpython_at(day: dt.date) -> tuple[int, int]:
    released = [v for v, d in CPYTHON_RELEASES.items() if d <= day and v[0] == 3]
    return max(released) if released else (2, 7)


def cpython_versions(f: File) -> list[tuple[int, int]]:
    out = []
    for t in f.tags:
        m = re.fullmatch(r"cp(\d)(\d+)", t.interpreter)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def new_interpreter_backfill(f: File, start: dt.datetime) -> bool:
    """True when the wheel targets only CPythons released after the release started."""
    vers = cpython_versions(f)
    if not vers:
        return False
    newest = newest_cpython_at(start.date())
    return min(vers) > newest


def classify(f: File, rel: Release) -> str:
    """A coarse reason for a late file (first matching rule wins)."""
    start = rel.start
    assert start is not None
    if f.kind == "sdist":
        return "sdist"
    if f.kind == "other":
        return "legacy installer (egg/exe/msi)"
    if new_interpreter_backfill(f, start):
        return "wheel for a CPython released after the release started"
    if not any(o.kind == "wheel" and o.lateness <= HOUR for o in rel.files):
        return "wheel added to a release that started without wheels"
    abis = {t.abi for t in f.tags}
    interps = {t.interpreter for t in f.tags}
    plats = {t.platform for t in f.tags}
    if any(a.endswith("t") and a.startswith("cp") for a in abis):
        return "free-threaded CPython wheel"
    if any(i.startswith(("pp", "graalpy", "ip")) for i in interps):
        return "PyPy/GraalPy wheel"
    if any(p.startswith(("ios", "android", "emscripten", "pyodide", "wasi")) for p in plats):
        return "mobile/wasm wheel"
    if any(p.startswith("musllinux") for p in plats):
        return "musllinux wheel"
    if any(
        re.search(r"(aarch64|arm64|armv7|ppc64|s390x|riscv64|i686|loongarch|win32)", p)
        for p in plats
    ):
        return "wheel for another CPU arch"
    if plats == {"any"}:
        return "pure-Python wheel"
    if cpython_versions(f):
        return "other wheel for an already released CPython"
    return "other wheel"


# --------------------------------------------------------------------------- analysis


def pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 3) if d else 0.0


def fmt_secs(s: float) -> str:
    if s < HOUR:
        return f"{s / 60:.0f}m"
    if s < DAY:
        return f"{s / HOUR:.1f}h"
    return f"{s / DAY:.1f}d"


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    vs = sorted(values)

    def q(p: float) -> float:
        return vs[min(len(vs) - 1, int(p * len(vs)))]

    return {"p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "max": vs[-1]}


def release_stats(projects: list[Project], now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, since in COHORTS:
        rels = [
            r
            for p in projects
            for r in p.releases.values()
            if r.start is not None and (since is None or r.start >= since)
        ]
        multi = [r for r in rels if len(r.files) > 1]
        counts = {t: sum(1 for r in rels if r.spread > secs) for t, secs in RELEASE_THRESHOLDS}
        projects_with = {
            t: sum(
                1
                for p in projects
                if any(
                    r.spread > secs
                    for r in p.releases.values()
                    if since is None or (r.start is not None and r.start >= since)
                )
            )
            for t, secs in RELEASE_THRESHOLDS
        }
        nproj = sum(
            1
            for p in projects
            if any(since is None or (r.start and r.start >= since) for r in p.releases.values())
        )
        files = [f for r in rels for f in r.files]
        out[label] = {
            "releases": len(rels),
            "multi_file_releases": len(multi),
            "files": len(files),
            "projects": nproj,
            "releases_late": counts,
            "releases_late_pct": {t: pct(n, len(rels)) for t, n in counts.items()},
            "files_late_pct": {
                t: pct(sum(1 for f in files if f.lateness > secs), len(files))
                for t, secs in RELEASE_THRESHOLDS
            },
            "projects_with_a_late_release": projects_with,
            "spread_seconds_multi_file": quantiles([r.spread for r in multi]),
        }
    return out


def late_projects(projects: list[Project], since: dt.datetime | None, top: int = 20) -> list[Any]:
    """Projects with the most releases that got a file more than 1 day late."""
    rows: list[dict[str, Any]] = []
    for p in projects:
        rels = [
            r
            for r in p.releases.values()
            if r.start is not None and (since is None or r.start >= since)
        ]
        late = [r for r in rels if r.spread > DAY]
        if late:
            rows.append(
                {
                    "project": p.name,
                    "releases": len(rels),
                    "late_1d": len(late),
                    "late_14d": sum(1 for r in late if r.spread > 14 * DAY),
                }
            )
    rows.sort(key=lambda r: (-r["late_1d"], r["project"]))
    return rows[:top]


def late_file_breakdown(projects: list[Project], since: dt.datetime | None) -> dict[str, Any]:
    """Why files are late: reason counts for files > 1d and > 14d late."""
    res: dict[str, Any] = {}
    for t, secs in (("1d", DAY), ("14d", 14 * DAY)):
        c: Counter[str] = Counter()
        for p in projects:
            for r in p.releases.values():
                if r.start is None or (since is not None and r.start < since):
                    continue
                for f in r.files:
                    if f.lateness > secs:
                        c[classify(f, r)] += 1
        res[t] = dict(c.most_common())
    return res


def selection_report(items: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
    sel = [i for i in items if i.get("file")]
    counts = {t: sum(1 for i in sel if i["lateness_s"] > secs) for t, secs in SELECT_THRESHOLDS}
    late = sorted((i for i in sel if i["lateness_s"] > HOUR), key=lambda i: -i["lateness_s"])
    benign = {
        t: sum(1 for i in sel if i["lateness_s"] > secs and i["new_cpython_backfill"])
        for t, secs in SELECT_THRESHOLDS
    }
    by_set: dict[str, dict[str, int]] = {}
    for i in sel:
        for sname in i.get("sets", []):
            row = by_set.setdefault(sname, {"selected": 0, **{t: 0 for t, _ in SELECT_THRESHOLDS}})
            row["selected"] += 1
            for t, secs in SELECT_THRESHOLDS:
                row[t] += i["lateness_s"] > secs
    return {
        "by_set": dict(sorted(by_set.items())),
        "selected": len(sel),
        "selected_wheels": sum(1 for i in sel if i["kind"] == "wheel"),
        "selected_sdists": sum(1 for i in sel if i["kind"] == "sdist"),
        "late": counts,
        "late_pct": {t: pct(n, len(sel)) for t, n in counts.items()},
        "late_new_cpython_backfill": benign,
        "late_other": {t: counts[t] - benign[t] for t in counts},
        "late_list": late,
        "all": [
            {k: i.get(k) for k in ("name", "version", "pin", "file", "lateness_s", "release_files")}
            for i in items
        ],
    }


def select_item(
    proj: Project, rel: Release, allow_yanked: bool, extra: dict[str, Any]
) -> dict[str, Any]:
    f, yanked = select_file(rel, allow_yanked)
    item: dict[str, Any] = {"name": proj.name, "version": rel.label, **extra}
    if f is None or rel.start is None:
        item["file"] = None
        return item
    item.update(
        file=f.filename,
        kind=f.kind,
        yanked=yanked,
        release_start=rel.start.isoformat(),
        uploaded=f.uploaded.isoformat(),
        lateness_s=f.lateness,
        lateness=fmt_secs(f.lateness),
        release_spread=fmt_secs(rel.spread),
        release_files=len(rel.files),
        newest_cpython_at_start="{}.{}".format(*newest_cpython_at(rel.start.date())),
        new_cpython_backfill=new_interpreter_backfill(f, rel.start),
        reason=classify(f, rel) if f.lateness > HOUR else None,
    )
    return item


def find_release(proj: Project, spec: str) -> Release | None:
    key = version_key(spec)
    if key in proj.releases:
        return proj.releases[key]
    try:
        ss = SpecifierSet("==" + spec)
    except InvalidSpecifier:
        return None
    matches = []
    for k, r in proj.releases.items():
        try:
            if ss.contains(Version(k), prereleases=True):
                matches.append((Version(k), r))
        except InvalidVersion:
            continue
    return max(matches, key=lambda m: m[0])[1] if matches else None


def latest_installable(proj: Project) -> tuple[Release | None, str | None]:
    """The version `pip install NAME` gets on the target (the newest installable final
    release, or pre-release if there is none), and the newest final release if that one
    is not installable here."""
    finals = []
    for k, r in proj.releases.items():
        try:
            v = Version(k)
        except InvalidVersion:
            continue
        if v.is_prerelease or all(f.yanked for f in r.files):
            continue
        finals.append((v, r))
    finals.sort(key=lambda m: m[0], reverse=True)
    newest = str(finals[0][0]) if finals else None
    for v, r in finals:
        if select_file(r, allow_yanked=False)[0] is not None:
            return r, (None if str(v) == newest else newest)
    # pip falls back to pre-releases when a project has nothing else
    pres = []
    for k, r in proj.releases.items():
        try:
            v = Version(k)
        except InvalidVersion:
            continue
        if v.is_prerelease and select_file(r, allow_yanked=False)[0] is not None:
            pres.append((v, r))
    if pres:
        return max(pres, key=lambda m: m[0])[1], newest
    return None, newest


# --------------------------------------------------------------------------- output


def print_tables(result: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps({k: v for k, v in result.items() if k != "selection"}, indent=1))
        return
    con = Console(width=140)
    rs = result["releases"]
    t = Table(title="Releases with any file later than T after release start (% of releases)")
    t.add_column("cohort (release start)")
    t.add_column("projects", justify="right")
    t.add_column("releases", justify="right")
    t.add_column("multi-file", justify="right")
    for lab, _ in RELEASE_THRESHOLDS:
        t.add_column(f">{lab}", justify="right")
    for cohort, s in rs.items():
        t.add_row(
            cohort,
            str(s["projects"]),
            str(s["releases"]),
            str(s["multi_file_releases"]),
            *[f"{s['releases_late_pct'][lab]:.2f}" for lab, _ in RELEASE_THRESHOLDS],
        )
    con.print(t)

    t = Table(title="Spread (max lateness) of multi-file releases")
    t.add_column("cohort")
    for q in ("p50", "p90", "p95", "p99", "max"):
        t.add_column(q, justify="right")
    for cohort, s in rs.items():
        qs = s["spread_seconds_multi_file"]
        t.add_row(
            cohort,
            *[fmt_secs(qs[q]) if q in qs else "-" for q in ("p50", "p90", "p95", "p99", "max")],
        )
    con.print(t)

    for cohort, br in result["late_file_reasons"].items():
        t = Table(title=f"Why files are late (releases {cohort}): file counts")
        t.add_column("reason")
        t.add_column(">1d", justify="right")
        t.add_column(">14d", justify="right")
        for reason in br["1d"]:
            t.add_row(reason, str(br["1d"].get(reason, 0)), str(br["14d"].get(reason, 0)))
        con.print(t)

    for cohort, rows in result["projects_with_most_late_releases"].items():
        t = Table(title=f"Projects with most releases >1d late (releases {cohort})")
        for col in ("project", "releases", ">1d", ">14d"):
            t.add_column(col, justify="left" if col == "project" else "right")
        for r in rows[:12]:
            t.add_row(r["project"], str(r["releases"]), str(r["late_1d"]), str(r["late_14d"]))
        con.print(t)

    t = Table(title="Selected file (CPython 3.11, manylinux_2_36 x86_64) later than T")
    t.add_column("set")
    t.add_column("selected", justify="right")
    for lab, _ in SELECT_THRESHOLDS:
        t.add_column(f">{lab}", justify="right")
    for setname, s in result["selection"].items():
        t.add_row(
            setname,
            str(s["selected"]),
            *[f"{s['late'][lab]} ({s['late_pct'][lab]:.1f}%)" for lab, _ in SELECT_THRESHOLDS],
        )
    con.print(t)

    by_set = result["selection"]["pinned corpus versions"]["by_set"]
    t = Table(title="Pinned corpus versions by requirement set: selected files later than T")
    t.add_column("set")
    t.add_column("pins", justify="right")
    for lab, _ in SELECT_THRESHOLDS:
        t.add_column(f">{lab}", justify="right")
    for sname, row in by_set.items():
        t.add_row(sname, str(row["selected"]), *[str(row[lab]) for lab, _ in SELECT_THRESHOLDS])
    con.print(t)

    for setname, s in result["selection"].items():
        t = Table(title=f"Late selected files (>1h), {setname}")
        for col in ("project", "version", "file", "lateness", "new-CPython backfill", "reason"):
            t.add_column(col)
        for i in s["late_list"]:
            t.add_row(
                i["name"],
                i["version"],
                i["file"],
                i["lateness"],
                "yes" if i["new_cpython_backfill"] else "no",
                i["reason"] or "",
            )
        con.print(t)


# --------------------------------------------------------------------------- main


def sample(names: list[str], n: int) -> list[str]:
    """Deterministic sample: the n names with the smallest sha256."""
    return sorted(names, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--projects",
        type=Path,
        action="append",
        help="requirement or name-list file (repeatable); default: the corpus sets",
    )
    ap.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="directory of *.txt requirement sets (default: %(default)s)",
    )
    ap.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON output (default: %(default)s)"
    )
    ap.add_argument("--index-url", default=DEFAULT_INDEX)
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "safe-install-lateness-cache",
    )
    ap.add_argument("--refresh", action="store_true", help="ignore the on-disk cache")
    ap.add_argument(
        "--jobs", type=int, default=MAX_JOBS, help=f"concurrent requests (max {MAX_JOBS})"
    )
    ap.add_argument(
        "--sample",
        type=int,
        default=0,
        help="survey only N projects (deterministic by name hash); 0 = all",
    )
    ap.add_argument("--quiet", action="store_true", help="do not print tables")
    ap.add_argument(
        "--cpython-release",
        action="append",
        default=[],
        metavar="X.Y=YYYY-MM-DD",
        help="add or override a CPython feature release date (repeatable)",
    )
    args = ap.parse_args(argv)
    for item in args.cpython_release:
        ver, _, day = item.partition("=")
        major, minor = (int(x) for x in ver.split("."))
        CPYTHON_RELEASES[(major, minor)] = dt.date.fromisoformat(day)
    jobs = max(1, min(args.jobs, MAX_JOBS))

    t0 = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    files = args.projects or sorted(Path(p) for p in glob.glob(str(args.corpus / "*.txt")))
    names, pins, bad = read_corpus(files)
    all_names = names
    if args.sample and args.sample < len(names):
        names = sample(names, args.sample)
    print(
        f"{len(names)} projects from {len(files)} file(s); fetching with {jobs} workers",
        file=sys.stderr,
    )
    pages, errors, cached = fetch_all(names, args.index_url, args.cache_dir, args.refresh, jobs)
    projects = {n: build_project(n, pages[n]) for n in names if n in pages}
    plist = list(projects.values())

    # selection: pinned corpus versions
    pinned_items = []
    pin_missing = []
    pin_marker_skipped = 0
    for (name, spec), pin in sorted(pins.items()):
        if name not in projects:
            continue
        if not pin.marker_ok:
            pin_marker_skipped += 1
            continue
        rel = find_release(projects[name], spec)
        if rel is None:
            pin_missing.append(f"{name}=={spec}")
            continue
        item = select_item(projects[name], rel, True, {"pin": spec, "sets": sorted(pin.sets)})
        if item.get("file") is None:
            pin_missing.append(f"{name}=={spec} (no file installable on the target)")
        pinned_items.append(item)

    latest_items = []
    latest_not_installable = []
    for name in sorted(projects):
        rel, newer = latest_installable(projects[name])
        if rel is None:
            latest_not_installable.append(name)
            continue
        latest_items.append(
            select_item(projects[name], rel, False, {"newer_final_not_installable": newer})
        )

    result: dict[str, Any] = {
        "measured_at": now.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python", os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])]
        ),
        "index_url": args.index_url,
        "cpython_releases": {f"{a}.{b}": d.isoformat() for (a, b), d in CPYTHON_RELEASES.items()},
        "target": {
            "python": str(TARGET_PYTHON),
            "platforms": target_platforms(),
            "supported_tags": len(TAG_RANK),
        },
        "inputs": [str(p) for p in files],
        "projects": {
            "named": len(all_names),
            "surveyed": len(names),
            "sampled": bool(args.sample and args.sample < len(all_names)),
            "fetched": len(pages),
            "from_cache": cached,
            "errors": errors,
            "unparsed_lines": bad,
            "files": sum(p.files for p in plist),
            "files_unattributed": sum(p.unattributed for p in plist),
            "releases": sum(len(p.releases) for p in plist),
        },
        "releases": release_stats(plist, now),
        "late_file_reasons": {
            label: late_file_breakdown(plist, since) for label, since in COHORTS[:3]
        },
        "projects_with_most_late_releases": {
            label: late_projects(plist, since) for label, since in COHORTS[1:3]
        },
        "selection": {
            "latest (pip install NAME)": selection_report(latest_items, now),
            "pinned corpus versions": selection_report(pinned_items, now),
        },
        "selection_notes": {
            "pins_total": len(pins),
            "pins_marker_excluded_on_target": pin_marker_skipped,
            "pins_unresolved": pin_missing,
            "latest_not_installable_on_target": latest_not_installable,
            "latest_where_newest_final_needs_other_python": sorted(
                f"{i['name']} ({i['newer_final_not_installable']} -> {i['version']})"
                for i in latest_items
                if i.get("newer_final_not_installable")
            ),
        },
        "runtime_s": None,
    }
    result["runtime_s"] = round(time.monotonic() - t0, 1)

    if not args.quiet:
        print_tables(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {result['runtime_s']}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
