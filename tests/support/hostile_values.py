"""Hostile index values (issue 13, causes 2, 3 and 9): one project per cause, served by
:class:`~support.index.LocalIndex`.

* :func:`path_hash` (cause 2): ``pwned`` 1.0, whose page says its sha256 is
  ``../work/pwned``: a value that, used as a path, escapes the cache.
* :func:`hostile_entry` (cause 2): the ``demo`` page of the ``ontime`` scenario with its wheel's
  entry changed by one of :data:`ENTRY_ATTACKS` (a file name with ``/``, ``\\``, ``%0A``, a
  control character; a size, yanked flag, URL, hash or requires-python of the wrong kind).
* :func:`dependency_confusion` (cause 3): ``corp-utils`` 1.0 on a private index; an attacker's
  index holds a byte-identical copy of it (same name, same sha256) and its own 99.0.
* :func:`poisoned_metadata` (cause 9): ``victim`` 1.0 on an honest index depends on ``latedep``,
  whose wheel was added 30 days after its release; a hostile index lists the *same* wheel
  (same sha256) with PEP 658 metadata without the dependency (``metadata``), or lists the honest
  sha256 for a wheel of its own whose METADATA has no dependency (``range``).

Hostile pages are served raw with :meth:`LocalIndex.break_project` (whatever the client asks
for), so the values reach the client byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .artifacts import build_sdist, build_wheel
from .index import JSON_CONTENT_TYPE, IndexedFile, LocalIndex

__all__ = [
    "ENTRY_ATTACKS",
    "HOSTILE_HASH",
    "Confusion",
    "Poisoning",
    "hostile_entry",
    "page_of",
    "path_hash",
    "poisoned_metadata",
    "serve_page",
    "dependency_confusion",
]

#: What a hostile index gives as a sha256: a relative path out of the cache directory.
HOSTILE_HASH = "../work/pwned"

Entry = dict[str, Any]


def page_of(index: LocalIndex, name: str) -> dict[str, Any]:
    """The PEP 691 page ``index`` renders for ``name`` (a fresh copy to alter)."""
    data: dict[str, Any] = json.loads((index.pages_dir / name / "index.json").read_text())
    return data


def serve_page(index: LocalIndex, name: str, page: dict[str, Any]) -> None:
    """Serve ``page`` as ``name``'s page, as JSON, whatever the client asks for."""
    index.break_project(name, body=json.dumps(page).encode(), content_type=JSON_CONTENT_TYPE)


def _wheel_entry(page: dict[str, Any]) -> Entry:
    entry: Entry = next(f for f in page["files"] if str(f.get("url", "")).endswith(".whl"))
    return entry


def path_hash(index: LocalIndex, work: Path, t0: datetime) -> IndexedFile:
    """Publish ``pwned`` 1.0 (a wheel with PEP 658 metadata) and serve a page that gives
    :data:`HOSTILE_HASH` as the sha256 of the wheel and of its metadata."""
    wheel = index.add(build_wheel(work / "pwned", "pwned", "1.0"), upload_time=t0,
                      advertise_metadata=True)
    page = page_of(index, "pwned")
    entry = _wheel_entry(page)
    entry["hashes"] = {"sha256": HOSTILE_HASH}
    serve_page(index, "pwned", page)
    return wheel


def _rename(new_tail: str) -> Callable[[Entry], None]:
    def change(entry: Entry) -> None:
        entry["url"] = "../../files/" + new_tail
        entry["filename"] = new_tail
    return change


def _set(key: str, value: Any) -> Callable[[Entry], None]:
    def change(entry: Entry) -> None:
        entry[key] = value
    return change


#: name -> (change to the selected wheel's entry, the field the refusal must name)
ENTRY_ATTACKS: dict[str, tuple[Callable[[Entry], None], str]] = {
    "slash-in-name": (_rename("demo-1.0-1%2F..%2F..%2Fx-py3-none-any.whl"), "file name"),
    "backslash-in-name": (_rename("demo-1.0-1%5C..%5Cx-py3-none-any.whl"), "file name"),
    "newline-in-name": (_rename("demo-1.0%0A-py3-none-any.whl"), "file name"),
    "space-in-name": (_rename("demo-1.0%20-py3-none-any.whl"), "file name"),
    "tab-in-name": (_rename("demo-1.0%09-py3-none-any.whl"), "file name"),
    "escape-in-name": (_rename("demo-1.0-1%1B[2K-py3-none-any.whl"), "file name"),
    "hash-not-hex": (_set("hashes", {"sha256": HOSTILE_HASH}), "sha256"),
    "hash-too-short": (_set("hashes", {"sha256": "ab" * 31}), "sha256"),
    "hash-not-a-string": (_set("hashes", {"sha256": 12}), "sha256"),
    "hashes-not-an-object": (_set("hashes", ["sha256", "00"]), "hashes"),
    "md5-wrong-length": (_set("hashes", {"md5": "0" * 31}), "md5"),
    "size-string": (_set("size", "12"), "size"),
    "size-bool": (_set("size", True), "size"),
    "size-negative": (_set("size", -1), "size"),
    # (false-like: a true-like one is yanked, as pip reads it, and another file is selected)
    "yanked-number": (_set("yanked", 0), "yanked"),
    "yanked-list": (_set("yanked", []), "yanked"),
    "url-other-scheme": (_set("url", "gopher://127.0.0.1/demo-1.0-py3-none-any.whl"), "url"),
    "url-control-char": (_set("url", "../../files/demo-1.0-py3-none-any.whl?\x07"), "url"),
    "requires-python-number": (_set("requires-python", 3), "requires-python"),
    "requires-python-garbage": (_set("requires-python", ">=3;rm -rf"), "requires-python"),
    "metadata-hash-not-hex": (_set("core-metadata", {"sha256": HOSTILE_HASH}), "core-metadata"),
}


def hostile_entry(index: LocalIndex, attack: str) -> dict[str, Any]:
    """Serve the ``demo`` page (``ontime`` scenario already published) with its wheel's
    entry changed by ``ENTRY_ATTACKS[attack]``; returns the page served."""
    page = page_of(index, "demo")
    ENTRY_ATTACKS[attack][0](_wheel_entry(page))
    serve_page(index, "demo", page)
    return page


@dataclass(frozen=True)
class Confusion:
    private: LocalIndex
    attacker: LocalIndex


def dependency_confusion(private: LocalIndex, attacker: LocalIndex, work: Path,
                         t0: datetime) -> Confusion:
    """``corp-utils`` 1.0 on ``private``; a byte-identical copy and 99.0 on ``attacker``."""
    own = build_wheel(work / "private", "corp-utils", "1.0")
    private.add(own, upload_time=t0)
    attacker.add(own, upload_time=t0)
    attacker.add(build_wheel(work / "attacker", "corp-utils", "99.0", payload="evil"),
                 upload_time=t0 + timedelta(days=400))
    return Confusion(private, attacker)


@dataclass(frozen=True)
class Poisoning:
    honest: LocalIndex
    hostile: LocalIndex
    victim: IndexedFile


#: PEP 658 metadata a hostile index serves for victim 1.0: its dependency left out
LYING_METADATA = b"Metadata-Version: 2.1\nName: victim\nVersion: 1.0\n"


def poisoned_metadata(honest: LocalIndex, hostile: LocalIndex, work: Path, t0: datetime,
                      how: str) -> Poisoning:
    """``victim`` 1.0 (requires ``latedep``) and ``latedep`` 1.0 (sdist on time, wheel 30 days
    late) on ``honest``. ``hostile`` lists victim's wheel under its honest sha256 with metadata
    that leaves the dependency out: as PEP 658 metadata (``how="metadata"``) or as a wheel of
    its own read with Range requests (``how="range"``, to be served through a FaultServer with
    ``ranges=True``)."""
    real = build_wheel(work / "honest", "victim", "1.0", requires_dist=["latedep"])
    victim = honest.add(real, upload_time=t0)
    honest.add(build_sdist(work / "dep", "latedep", "1.0"), upload_time=t0)
    honest.add(build_wheel(work / "dep", "latedep", "1.0"), upload_time=t0 + timedelta(days=30))
    if how == "metadata":
        hostile.add(real, upload_time=t0, metadata=LYING_METADATA, advertise_metadata=True)
    elif how == "range":
        hostile.add(build_wheel(work / "hostile", "victim", "1.0", payload="other"),
                    upload_time=t0, serve_metadata=False)
        page = page_of(hostile, "victim")
        _wheel_entry(page)["hashes"] = {"sha256": victim.sha256}
        serve_page(hostile, "victim", page)
    else:
        raise ValueError(how)
    return Poisoning(honest, hostile, victim)
