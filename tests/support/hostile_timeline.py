"""A hostile (or careless) index whose release timelines cannot be trusted: one project per way
an index can make a late file look like the start of its release (issue 13, causes 1, 4, 5).

Every project is published on a real :class:`~support.index.LocalIndex`; its PEP 691 JSON page
is then rewritten (served raw with :meth:`LocalIndex.break_project`, whatever the ``Accept``
header), so the entries are exactly what a hostile index would send. In each project the file
pip selects for ``requirement`` was uploaded :data:`LATE` after the release began; without the
rewrite it is refused as ``late``.

=============  ====================================================================================
project        what the page does
=============  ====================================================================================
``vmissing``   the on-time sdist has no ``upload-time`` key; the late wheel is dated
``vnull``      the on-time sdist has ``"upload-time": null``
``vbadtime``   the on-time sdist has ``"upload-time": " 2024-01-01T00:00:00z "`` (does not parse)
``vduptime``   the late wheel is listed twice: with its true time, and backdated to the start
``vduphash``   the late wheel is listed twice: once with another sha256
``vlocal``     ``vlocal-1.0+evil`` (a local variant, late) satisfies ``vlocal==1.0``
=============  ====================================================================================

Usage::

    projects = publish_hostile_timelines(local_index, tmp_path / "hostile", t0)
    p = projects["vnull"]
    run_cli(["-i", local_index.url, "--dry-run", p.requirement], ...)
    # refused: p.expected_kind, naming p.named
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .artifacts import build_sdist, build_wheel
from .index import LocalIndex, format_upload_time

__all__ = ["HOSTILE_PROJECTS", "LATE", "HostileProject", "publish_hostile_timelines"]

#: how long after the release start the selected (late) file was really uploaded
LATE = timedelta(days=30)

Page = dict[str, Any]


@dataclass(frozen=True)
class HostileProject:
    name: str
    requirement: str
    #: the file pip selects (uploaded LATE after the release began)
    late_filename: str
    late_sha256: str
    #: the finding kind safe-install must give the selected file
    expected_kind: str
    #: text the finding must contain (names the undated or conflicting file)
    named: str
    description: str


def _entry(page: Page, suffix: str) -> dict[str, Any]:
    return next(e for e in page["files"] if e["filename"].endswith(suffix))


def _sdist_time(value: object, *, drop: bool = False) -> Callable[[Page], None]:
    def rewrite(page: Page) -> None:
        sdist = _entry(page, ".tar.gz")
        if drop:
            del sdist["upload-time"]
        else:
            sdist["upload-time"] = value
    return rewrite


def publish_hostile_timelines(index: LocalIndex, work: Path,
                              t0: datetime) -> dict[str, HostileProject]:
    """Publish every hostile project on ``index`` (files under ``work``); return them by name."""
    out: dict[str, HostileProject] = {}

    def release(name: str, rewrite: Callable[[Page], None], kind: str, named: str,
                description: str, *, local: bool = False) -> None:
        base = work / name
        index.add(build_sdist(base / "sdist", name, "1.0"), upload_time=t0)
        if local:
            index.add(build_wheel(base / "pure", name, "1.0"), upload_time=t0)
            late = index.add(build_wheel(base / "late", name, "1.0+evil", payload="evil"),
                             upload_time=t0 + LATE)
        else:
            late = index.add(build_wheel(base / "late", name, "1.0", payload="evil"),
                             upload_time=t0 + LATE)
        page = json.loads((index.pages_dir / name / "index.json").read_text())
        rewrite(page)
        index.break_project(name, body=json.dumps(page).encode())
        out[name] = HostileProject(name, f"{name}==1.0", late.filename, late.sha256, kind,
                                   named.format(sdist=f"{name}-1.0.tar.gz", late=late.filename),
                                   description)

    undated = "unknown-upload-time"
    release("vmissing", _sdist_time(None, drop=True), undated, "no upload time for {sdist}",
            "the on-time sdist has no upload-time key")
    release("vnull", _sdist_time(None), undated, "no upload time for {sdist}",
            "the on-time sdist has upload-time null")
    release("vbadtime", _sdist_time(" 2024-01-01T00:00:00z "), undated,
            "an unreadable upload-time for {sdist}", "the on-time sdist's upload-time does not "
            "parse")

    def backdated_copy(page: Page) -> None:
        wheel = _entry(page, ".whl")
        page["files"].append({**wheel, "upload-time": format_upload_time(t0)})

    release("vduptime", backdated_copy, "inconsistent-timeline",
            "lists {late} more than once", "the late wheel is listed twice, once backdated")

    def other_hash_copy(page: Page) -> None:
        wheel = _entry(page, ".whl")
        page["files"].insert(0, {**wheel, "url": wheel["url"] + "?copy=2",
                              "hashes": {"sha256": "0" * 64}})

    release("vduphash", other_hash_copy, "inconsistent-timeline",
            "lists {late} more than once", "the late wheel is listed twice, with two hashes")
    release("vlocal", lambda page: None, "late", "{late}",
            "a late local variant 1.0+evil satisfies ==1.0", local=True)
    return out


HOSTILE_PROJECTS = ("vmissing", "vnull", "vbadtime", "vduptime", "vduphash", "vlocal")
