"""Measure what content proofs (safeinstall.backfill) make of real late selections on PyPI.

For each release given (NAME==VERSION), the file pip would pick on this interpreter (its
``packaging.tags.sys_tags()`` order, wheels before the sdist) is dated within its release from
the PEP 691 page; when it came more than 24 h after the release began it is a late selection,
and the proof is tried: a pure wheel against an on-time sdist, any wheel against up to two
on-time wheels (same platform first). Every download is checked against the index's sha256.

    python scripts/backfill_survey.py aiobotocore==2.1.2 click==6.6 pyyaml==6.0 ...

Prints one line per release and a summary (verified / still late / not late, time per check).
Network: the simple index only.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
import urllib.request
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from safeinstall.backfill import Mismatch, Proof, verify_identical_wheel, verify_pure_wheel

INDEX = "https://pypi.org/simple/"
LATE = timedelta(hours=24)


def _get(url: str, accept: str | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return bytes(resp.read())


def _download(entry: dict, dest: Path) -> Path:
    data = _get(entry["url"])
    want = entry["hashes"]["sha256"]
    if hashlib.sha256(data).hexdigest() != want:
        raise SystemExit(f"sha256 mismatch for {entry['filename']}")
    path = dest / entry["filename"]
    path.write_bytes(data)
    return path


def survey(pin: str, tmp: Path) -> tuple[str, str, float]:
    name, _, version = pin.partition("==")
    page = json.loads(_get(f"{INDEX}{canonicalize_name(name)}/",
                           "application/vnd.pypi.simple.v1+json"))
    files = []
    for e in page["files"]:
        fn = e["filename"]
        try:
            v = (parse_wheel_filename(fn)[1] if fn.endswith(".whl")
                 else parse_sdist_filename(fn)[1])
        except Exception:
            continue
        if v == Version(version) and e.get("upload-time"):
            e["_t"] = datetime.fromisoformat(e["upload-time"].replace("Z", "+00:00"))
            files.append(e)
    if not files:
        return pin, "no dated files", 0.0
    start = min(e["_t"] for e in files)
    rank = {t: i for i, t in enumerate(sys_tags())}

    def best(e: dict) -> float:
        fn = e["filename"]
        if not fn.endswith(".whl"):
            return len(rank) + 1.0
        return min((rank.get(t, 1e9) for t in parse_wheel_filename(fn)[3]), default=1e9)

    chosen = min(files, key=best)
    if best(chosen) >= 1e9:
        return pin, "no file for this interpreter", 0.0
    late = chosen["_t"] - start
    if late <= LATE:
        return pin, f"not late ({chosen['filename']})", 0.0
    t0 = time.perf_counter()
    path = _download(chosen, tmp)
    on_time = [e for e in files if e["_t"] - start <= LATE]
    outcome: Proof | Mismatch | None = None
    with zipfile.ZipFile(path) as zf:
        info = [n for n in zf.namelist() if n.endswith(".dist-info/WHEEL")]
        pure = bool(info) and b"root-is-purelib: true" in zf.read(info[0]).lower()
    if pure:
        for e in on_time:
            if not e["filename"].endswith(".whl"):
                outcome = verify_pure_wheel(path, _download(e, tmp),
                                            sdist_sha256=e["hashes"]["sha256"])
                break
    if not isinstance(outcome, Proof):
        plat = chosen["filename"].rsplit("-", 1)[-1]
        refs = sorted((e for e in on_time if e["filename"].endswith(".whl")),
                      key=lambda e: e["filename"].rsplit("-", 1)[-1] != plat)[:2]
        for e in refs:
            ref = _download(e, tmp)
            with zipfile.ZipFile(ref) as zf:
                record = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
                data = zf.read(record[0]) if record else b""
            outcome = verify_identical_wheel(path, e["filename"], data,
                                             reference_sha256=e["hashes"]["sha256"])
            if isinstance(outcome, Proof):
                break
    took = time.perf_counter() - t0
    days = late.total_seconds() / 86400
    if isinstance(outcome, Proof):
        return pin, f"late-verified ({chosen['filename']}, {days:.0f} d late): " \
            f"{outcome.describe()}", took
    why = outcome.reason if isinstance(outcome, Mismatch) else "no on-time reference"
    return pin, f"late ({chosen['filename']}, {days:.0f} d late): {why}", took


def main(argv: list[str]) -> int:
    counts: dict[str, int] = {}
    times: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        for pin in argv:
            sub = Path(d) / canonicalize_name(pin)
            sub.mkdir()
            pin_, text, took = survey(pin, sub)
            kind = text.split(" ", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
            if took:
                times.append(took)
            print(f"{pin_:32} {text}  [{took:.2f} s]" if took else f"{pin_:32} {text}")
    times.sort()
    median = times[len(times) // 2] if times else 0.0
    print(f"\n{counts}; checks: {len(times)}, median {median:.2f} s, max "
          f"{max(times, default=0.0):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
