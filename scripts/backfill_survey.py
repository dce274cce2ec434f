"""Measure what ``--on-late verify`` makes of real late selections on PyPI (docs/backfills.md).

For each release, the file pip would pick on this interpreter (its ``packaging.tags.sys_tags()``
order, wheels before the sdist, Requires-Python and yanked files as pip treats them) is dated
within its release from the PEP 691 page; when it came more than 24 h after the release began
it is a late selection, and the product's proof is tried: the references that
``safeinstall.backfillcheck.references`` chooses (a pure wheel against an on-time sdist, any
wheel against up to two on-time wheels, same platform first), with the proofs of
``safeinstall.backfill``. Every download is checked against the index's sha256.

Each verified case is then diffed again, independently of the proof's code: every file the late
wheel installs is looked up in the reference and compared byte for byte (a documented
normalisation - CRLF in .py/.pyi, a script's shebang - is counted apart). A verified case with a
differing file would be a bug in the proof; the summary counts them.

    python scripts/backfill_survey.py aiobotocore==2.1.2 click==6.6 pyyaml==6.0 ...
    python scripts/backfill_survey.py --discover tests/data/corpus/pypi/*.txt --json out.json

``--discover`` reads project names from requirement files and surveys every final release of
each (since ``--since``) whose selected file is late. Files larger than ``--max-mb`` are not
downloaded (counted as "too large"). Network: the simple index and its files only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from safeinstall.archivecontent import read_sdist, read_wheel
from safeinstall.backfill import (
    Mismatch,
    Proof,
    is_pure_wheel,
    verify_against_wheel,
    verify_pure_wheel,
)
from safeinstall.backfillcheck import references
from safeinstall.models import IndexFile, Source

INDEX = "https://pypi.org/simple/"
LATE = timedelta(hours=24)
SOURCE = Source(INDEX, "index")
PYTHON = ".".join(str(x) for x in sys.version_info[:3])
_BOOKKEEPING = {"RECORD", "WHEEL", "INSTALLER", "REQUESTED", "RECORD.jws", "RECORD.p7s"}


def _get(url: str, accept: str | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return bytes(resp.read())


def _download(entry: dict[str, Any], dest: Path) -> Path:
    path = dest / entry["filename"]
    if path.exists():
        return path
    data = _get(entry["url"])
    if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
        raise SystemExit(f"sha256 mismatch for {entry['filename']}")
    path.write_bytes(data)
    return path


def _version(filename: str) -> tuple[Version, bool] | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1], True
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[1], False
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def _index_file(name: str, e: dict[str, Any]) -> IndexFile:
    fn = e["filename"]
    version, wheel = _version(fn) or (Version("0"), False)
    tags = parse_wheel_filename(fn)[3] if wheel else frozenset()
    build = parse_wheel_filename(fn)[2] if wheel else ()
    sha = e.get("hashes", {}).get("sha256")
    return IndexFile(
        project=canonicalize_name(name), filename=fn, url=e["url"], source=SOURCE,
        version=version, is_wheel=wheel, tags=tags, build_tag=build, sha256=sha,
        hashes=(("sha256", sha),) if sha else (), upload_time=e["_t"],
        yanked=(e.get("yanked") or None) if e.get("yanked") is not False else None,
        requires_python=e.get("requires-python"), size=e.get("size"), metadata_url=None,
        metadata_sha256=None)


def page(name: str) -> dict[str, Any]:
    return json.loads(_get(f"{INDEX}{canonicalize_name(name)}/",
                           "application/vnd.pypi.simple.v1+json"))


def releases(data: dict[str, Any]) -> dict[Version, list[dict[str, Any]]]:
    """Files by version; a release with any undated file is left out (its start is unknown)."""
    out: dict[Version, list[dict[str, Any]]] = {}
    undated: set[Version] = set()
    for e in data["files"]:
        parsed = _version(e["filename"])
        if parsed is None:
            continue
        v = parsed[0]
        if not e.get("upload-time"):
            undated.add(v)
            continue
        e["_t"] = datetime.fromisoformat(e["upload-time"].replace("Z", "+00:00"))
        out.setdefault(v, []).append(e)
    return {v: fs for v, fs in out.items() if v not in undated}


_RANK = {t: i for i, t in enumerate(sys_tags())}


def _python_ok(e: dict[str, Any]) -> bool:
    rp = e.get("requires-python")
    if not rp:
        return True
    try:
        return SpecifierSet(rp).contains(PYTHON, prereleases=True)
    except InvalidSpecifier:
        return True


def select(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """pip's pick: the compatible wheel with the best tag (then build tag), else an sdist;
    yanked files only when the whole release is yanked."""
    live = [e for e in files if not e.get("yanked")] or files
    live = [e for e in live if _python_ok(e)]
    best: tuple[float, Any] | None = None
    chosen = None
    for e in live:
        fn = e["filename"]
        if fn.endswith(".whl"):
            _n, _v, build, tags = parse_wheel_filename(fn)
            rank = min((_RANK.get(t, 1e9) for t in tags), default=1e9)
            if rank >= 1e9:
                continue
            key = (-rank, build)
        else:
            key = (-1e10, ())
        if best is None or key >= best:
            best, chosen = key, e
    return chosen


def independent_diff(late: Path, ref: Path, proof: Proof) -> int:
    """Files the late wheel installs that differ from the reference's (see the docstring)."""
    wheel = read_wheel(late)
    info = next(n.split("/", 1)[0] for n in wheel if n.split("/", 1)[0].endswith(".dist-info"))
    data_dir = info[:-len(".dist-info")] + ".data/"
    if proof.kind == "wheel-record":
        theirs = read_wheel(ref)
        keys = {k for k in set(wheel) | set(theirs)
                if not (k.startswith(info + "/") and k.split("/", 1)[1] in _BOOKKEEPING)}
        return sum(wheel.get(k) != theirs.get(k) for k in keys)
    sdist = read_sdist(ref)
    differing = 0
    for prefix in ("", "src/"):
        differing = 0
        for path, data in wheel.items():
            if path.startswith(info + "/"):
                continue
            if path.startswith(data_dir):
                scheme, _, rel = path[len(data_dir):].partition("/")
                if scheme == "scripts":
                    same = [p for p in sdist if p.rsplit("/", 1)[-1] == rel]
                    ok = any(sdist[p].split(b"\n", 1)[1:] == data.split(b"\n", 1)[1:]
                             for p in same)
                    differing += not ok
                    continue
                path = rel
            theirs = sdist.get(prefix + path)
            crlf_only = theirs is not None and path.endswith((".py", ".pyi")) and \
                theirs.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
            differing += theirs is None or (theirs != data and not crlf_only)
        if differing == 0:
            return 0
    return differing


def survey(name: str, version: Version, files: list[dict[str, Any]], tmp: Path,
           max_bytes: int) -> dict[str, Any]:
    start = min(e["_t"] for e in files)
    chosen = select(files)
    row: dict[str, Any] = {"release": f"{name}=={version}", "start": start.isoformat()}
    if chosen is None:
        return row | {"status": "no file for this interpreter"}
    late = chosen["_t"] - start
    row |= {"file": chosen["filename"], "late_days": round(late.total_seconds() / 86400, 1)}
    if late <= LATE:
        return row | {"status": "not late"}
    if not chosen["filename"].endswith(".whl"):
        return row | {"status": "late", "why": "a late sdist is never verified"}
    on_time = sorted((e for e in files if e["_t"] - start <= LATE), key=lambda e: e["_t"])
    late_file = _index_file(name, chosen)
    t0 = time.perf_counter()
    if (chosen.get("size") or 0) > max_bytes:
        return row | {"status": "too large"}
    path = _download(chosen, tmp)
    refs = references(late_file, [_index_file(name, e) for e in on_time],
                      pure=is_pure_wheel(path))
    by_name = {e["filename"]: e for e in on_time}
    outcome: Proof | Mismatch | None = None
    ref_path = None
    for ref in refs:
        entry = by_name[ref.filename]
        if (entry.get("size") or 0) > max_bytes:
            outcome = outcome or Mismatch(ref.filename, "reference too large for the survey")
            continue
        ref_path = _download(entry, tmp)
        attempt = (verify_against_wheel(path, ref_path, reference_sha256=ref.sha256)
                   if ref.is_wheel else
                   verify_pure_wheel(path, ref_path, sdist_sha256=ref.sha256))
        if isinstance(attempt, Proof):
            outcome = attempt
            break
        outcome = outcome if isinstance(outcome, Mismatch) else attempt
    took = time.perf_counter() - t0
    row |= {"seconds": round(took, 3), "pure": is_pure_wheel(path),
            "references": [r.filename for r in refs]}
    if isinstance(outcome, Proof):
        assert ref_path is not None
        return row | {"status": "late-verified", "proof": outcome.describe(),
                      "kind": outcome.kind, "normalisations": list(outcome.normalisations),
                      "independent_differences": independent_diff(path, ref_path, outcome)}
    why = outcome.reason if isinstance(outcome, Mismatch) else "no on-time reference"
    return row | {"status": "late", "why": why}


def _names(paths: list[str]) -> list[str]:
    out: dict[str, None] = {}
    for p in paths:
        for line in Path(p).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                out[canonicalize_name(Requirement(re.split(r"\s+--", line)[0]).name)] = None
            except InvalidRequirement:
                continue
    return list(out)


def discover(names: list[str], since: datetime) -> list[tuple[str, Version, list[Any]]]:
    """Every final release (started since ``since``) whose selected file is late."""
    found: list[tuple[str, Version, list[Any]]] = []

    def one(name: str) -> list[tuple[str, Version, list[Any]]]:
        try:
            data = page(name)
        except OSError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return []
        out = []
        for v, files in releases(data).items():
            if v.is_prerelease or min(e["_t"] for e in files) < since:
                continue
            chosen = select(files)
            if chosen is not None and chosen["_t"] - min(e["_t"] for e in files) > LATE:
                out.append((name, v, files))
        return out

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for part in pool.map(one, names):
            found += part
    return sorted(found, key=lambda x: (x[0], x[1]))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pins", nargs="*", help="NAME==VERSION")
    ap.add_argument("--discover", nargs="+", default=[], metavar="REQUIREMENTS_FILE")
    ap.add_argument("--since", default="2000-01-01", help="release start, YYYY-MM-DD")
    ap.add_argument("--max-mb", type=float, default=40.0)
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args(argv)
    work: list[tuple[str, Version, list[Any]]] = []
    if args.discover:
        since = datetime.fromisoformat(args.since).replace(tzinfo=timezone.utc)
        work += discover(_names(args.discover), since)
        print(f"{len(work)} release(s) select a file more than 24 h late", file=sys.stderr)
    for pin in args.pins:
        name, _, version = pin.partition("==")
        files = releases(page(name)).get(Version(version), [])
        work.append((canonicalize_name(name), Version(version), files))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, version, files in work:
            if not files:
                rows.append({"release": f"{name}=={version}", "status": "no dated files"})
                continue
            sub = Path(d) / f"{name}-{version}"
            sub.mkdir(exist_ok=True)
            row = survey(name, version, files, sub, int(args.max_mb * 1024 * 1024))
            rows.append(row)
            detail = row.get("proof") or row.get("why") or ""
            took = f"  [{row['seconds']:.2f} s]" if "seconds" in row else ""
            print(f"{row['release']:36} {row['status']}: {row.get('file', '')} "
                  f"({row.get('late_days', '-')} d) {detail}{took}", flush=True)
            for p in sub.iterdir():  # keep the disk use of a long survey small
                p.unlink()
    counts = Counter(r["status"] for r in rows)
    times = [r["seconds"] for r in rows if "seconds" in r]
    wrong = [r["release"] for r in rows if r.get("independent_differences")]
    print(f"\n{dict(counts)}; checks: {len(times)}, median "
          f"{statistics.median(times) if times else 0:.2f} s, max {max(times, default=0):.2f} s;"
          f" verified with an independent difference: {len(wrong)} {wrong}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": PYTHON, "most_specific_tag": str(next(iter(sys_tags()))),
            "command": "python scripts/backfill_survey.py " + " ".join(argv),
            "counts": dict(counts), "rows": rows}, indent=1) + "\n")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
