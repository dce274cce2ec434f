"""Byte-compiling what pip installed, on every core (pip compiles file after file).

The install step (:mod:`safeinstall.installer`) runs ``pip install --no-compile`` when
:func:`compiles_afterwards` says so; once pip has finished, :func:`compile_installed` compiles
exactly the ``.py`` files pip wrote in that install, with the target interpreter, as pip would
have (same ``.pyc`` files, RECORD rows as pip writes them, so ``pip uninstall`` and ``pip
check`` behave as after a plain pip install).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from safeinstall.errors import EXIT_PIP, SafeInstallError
from safeinstall.pipoptions import PipSettings
from safeinstall.process import kill_group

logger = logging.getLogger(__name__)


def compiles_afterwards(settings: PipSettings, passthrough: Sequence[str]) -> bool:
    """Whether the installed wheels are byte-compiled after pip (which then runs with
    ``--no-compile``), in parallel, by :func:`compile_installed`.

    Only when the user wants bytecode (pip's default ``--compile``; the last of
    ``--compile``/``--no-compile`` wins, as in pip), and for the install locations where the
    new ``.dist-info`` directories can be found without recomputing pip's install scheme:
    the target interpreter's own (``sys.path``, the user site: default and ``--user``) and
    ``--target``. Under ``--prefix`` or ``--root`` pip compiles, as it always did."""
    from safeinstall.cmdline import OPTIONS

    takes_value = {n for o in OPTIONS if o.kind == "value" for n in o.names}
    wanted = True
    args = iter(passthrough)
    for arg in args:
        if arg in takes_value:
            next(args, None)  # a value, e.g. a log file named "--no-compile"
        elif arg == "--compile":
            wanted = True
        elif arg == "--no-compile":
            wanted = False
    return wanted and not (settings.prefix or settings.root)


# ---------------------------------------------------------------------------------------------
# Byte-compiling what pip installed, in parallel (pip itself compiles file after file)

#: Seconds subtracted from the clock before pip installs: a file pip writes is "new" when its
#: modification time is not older than that (file systems round times down, up to 2 s on FAT).
FRESH_MARGIN = 2.0


class CompileFailed(SafeInstallError):
    """The checked artifacts were installed, but byte-compiling them afterwards failed (exit 4,
    as a pip failure)."""

    exit_code = EXIT_PIP


#: Runs under the target interpreter (Python 3.9 or newer), with nothing of ours importable.
#: Reads ``{"infos": [dist-info dir names], "since": time, "target": dir or null}`` on stdin;
#: writes one JSON object on stdout. Exactly what pip does with ``--compile`` (pip's
#: ``_install_wheel``): every ``.py`` file of the new RECORD that is a file is compiled with
#: ``compileall.compile_file(path, force=True, quiet=True)``, warnings ignored, failures
#: tolerated; each ``.pyc`` written is added to RECORD as ``(path relative to the
#: site-packages directory, "", "")`` and RECORD is rewritten sorted, as pip writes it.
_COMPILE_SCRIPT = r"""
import sys
if sys.path and sys.path[0] == "":
    # python -c puts the working directory first; pip's runner does not. Removed before any
    # other import, so that a json.py (say) in the working directory is never run.
    del sys.path[0]
import compileall, csv, functools, importlib.util, json, os, site, stat, sysconfig, tempfile
import warnings


def lib_dirs(target):
    if target is not None:
        dirs = [target]
    else:
        paths = sysconfig.get_paths()
        dirs = [paths.get("purelib"), paths.get("platlib")]
        try:
            dirs.append(site.getusersitepackages())
        except Exception:
            pass
        dirs += sys.path
    seen, out = set(), []
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        key = os.path.normcase(os.path.realpath(d))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def install_roots(target):
    # where pip puts a wheel's files: the install scheme's directories (lib, scripts, data,
    # headers; the user scheme's too), or the --target directory
    if target is not None:
        return [os.path.join(os.path.normpath(target), "")]
    schemes = [sysconfig.get_paths()]
    try:
        schemes.append(sysconfig.get_paths(f"{os.name}_user"))
    except Exception:
        pass
    return sorted({os.path.join(os.path.normpath(v), "") for paths in schemes
                   for k, v in paths.items() if v and k != "stdlib" and k != "platstdlib"})


def fresh(path, since):
    try:
        return os.stat(path).st_mtime >= since
    except OSError:
        return False


def record_path(path, lib):
    # pip's _fs_to_record_path
    if os.path.splitdrive(path)[0].lower() == os.path.splitdrive(lib)[0].lower():
        path = os.path.relpath(path, lib)
    return path.replace(os.path.sep, "/")


def read_rows(record):
    with open(record, encoding="utf-8", newline="") as f:
        return list(csv.reader(f.read().splitlines()))


def workers():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def compile_all(paths):
    compile_one = functools.partial(compileall.compile_file, force=True, quiet=True)
    n = workers()
    if n > 1 and len(paths) > 8:
        try:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(max_workers=min(n, 32)) as pool:
                chunk = max(1, min(16, len(paths) // (n * 4)))
                return [bool(ok) for ok in pool.map(compile_one, paths, chunksize=chunk)]
        except Exception:  # no process pool here (e.g. no semaphores): one after another
            pass
    return [bool(compile_one(p)) for p in paths]


def main():
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # compile_file's messages (and the workers') go to stderr, as pip's log
    warnings.filterwarnings("ignore")
    request = json.loads(sys.stdin.read())
    since = request["since"]
    target = request["target"]
    libs = lib_dirs(target)
    roots = install_roots(target)
    found, missing, stale = [], [], []
    for info in request["infos"]:
        records = [os.path.join(lib, info, "RECORD") for lib in libs]
        new = [(lib, r) for lib, r in zip(libs, records) if fresh(r, since)]
        if new:
            found += new
        elif any(os.path.exists(r) for r in records):
            stale.append(info)  # pip did not install it (e.g. --target without --upgrade)
        else:
            missing.append(info)
    jobs = {}  # .py path -> [(directory RECORD paths are relative to, RECORD)]
    for lib, record in found:
        seen = set()
        for row in read_rows(record):
            if not row or not row[0].endswith(".py") or row[0] in seen:
                continue
            seen.add(row[0])
            base = lib
            if target is not None and row[0].startswith("../"):
                # pip installed into DIR/lib/python of a temporary home, then moved its
                # bin/ (scripts) and data into the target: where the file is now
                if os.name != "posix":
                    continue
                base = os.path.join(lib, "lib", "python")
            path = os.path.normpath(os.path.join(base, row[0]))
            # never outside where pip installs: pip keeps a wheel's own RECORD rows that name
            # no installed file as they are (an absolute path, "pkg/../../x.py")
            if not any(path.startswith(root) for root in roots):
                continue
            # a file pip wrote in this install (not one it left, or one of another install)
            if os.path.isfile(path) and fresh(path, since):
                jobs.setdefault(path, []).append((base, record))
    paths = sorted(jobs)
    results = compile_all(paths)
    added = {record: [] for _lib, record in found}
    compiled = 0
    for path, ok in zip(paths, results):
        pyc = importlib.util.cache_from_source(path)
        if not ok or not os.path.exists(pyc):
            continue
        compiled += 1
        for base, record in jobs[path]:
            added[record].append((record_path(pyc, base), "", ""))
    for record, rows in added.items():
        if not rows:
            continue
        mode = stat.S_IMODE(os.stat(record).st_mode)
        rows = sorted((r[0], r[1] if len(r) > 1 else "", r[2] if len(r) > 2 else "")
                      for r in read_rows(record) + rows)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(record), prefix="RECORD.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows(rows)
            os.chmod(tmp, mode)
            os.replace(tmp, record)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    json.dump({"found": [r for _l, r in found], "missing": missing, "stale": stale,
               "compiled": compiled, "failed": len(paths) - compiled}, out)
    out.close()


main()
"""


def dist_info_dir(wheel: Path) -> str | None:
    """The ``.dist-info`` directory of ``wheel`` (the one top-level one, as pip requires),
    which pip installs under that very name."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            tops = {n.split("/", 1)[0] for n in archive.namelist() if "/" in n}
    except (OSError, zipfile.BadZipFile):
        return None
    infos = [t for t in tops if t.endswith(".dist-info")]
    return infos[0] if len(infos) == 1 else None


def compile_installed(python: str, wheels: Sequence[Path], settings: PipSettings,
                      env: Mapping[str, str], since: float) -> list[str]:
    """Byte-compile what pip just installed from ``wheels`` (with ``--no-compile``), as pip
    would have, on every core: run by the target interpreter ``python``, so that the
    ``.pyc`` files are the ones it reads; the same environment as pip's (so the same
    optimization level, ``SOURCE_DATE_EPOCH`` invalidation mode and ``PYTHONPYCACHEPREFIX``).

    Where: the ``.dist-info`` directories of these wheels, by their exact names, in the target
    interpreter's install directories (``--target``: that directory only) whose RECORD pip
    wrote in this install (modified since ``since``); of their RECORD, only the ``.py`` files
    pip wrote in this install. A file that does not compile is left as pip leaves it (no
    ``.pyc``, not an error). A distribution that cannot be found is left uncompiled, with a
    warning (Python compiles it on first import). Returns the warnings, for the caller to
    show; the compiler's own messages are logged (``-v``), as pip logs them at debug level."""
    infos = [i for i in (dist_info_dir(w) for w in wheels) if i is not None]
    if not infos:
        return []
    target = os.path.abspath(settings.target_dir) if settings.target_dir else None
    request = json.dumps({"infos": infos, "since": since, "target": target})
    # run in an empty directory, with the script's directory off the path: neither the
    # script nor its worker processes (spawned ones start anew) import from the caller's
    # working directory, a checked-out project that may hold a multiprocessing.py
    with tempfile.TemporaryDirectory(prefix="safe-install-compile-") as empty:
        try:
            proc = subprocess.Popen([python, "-c", _COMPILE_SCRIPT],
                                    env={**env, "PYTHONSAFEPATH": "1"}, cwd=empty,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    start_new_session=hasattr(os, "killpg"))
        except OSError as exc:
            raise CompileFailed(
                _compile_failed(f"cannot run {python}: {exc.strerror}")) from None
        with proc:
            try:
                stdout, stderr = proc.communicate(request)
            except KeyboardInterrupt:  # .pyc files and RECORD are each replaced atomically
                kill_group(proc)
                raise
    from safeinstall.display import printable

    try:
        summary = json.loads(stdout) if proc.returncode == 0 else None
    except ValueError:
        summary = None
    if not isinstance(summary, dict):
        raise CompileFailed(_compile_failed(
            f"{python} exited with {proc.returncode}:\n{printable(stderr.strip()[-3000:])}"),
            hint="the installed packages work without bytecode (Python compiles a module when "
            "it first imports it); `python -m compileall` compiles them, or pass --no-compile")
    if stderr.strip() and logger.isEnabledFor(logging.DEBUG):  # pip logs these at debug level
        logger.debug("byte-compiling: %s", stderr.strip())
    warnings = []
    if summary.get("missing") and not target:
        names = ", ".join(printable(str(m)) for m in summary["missing"])
        warnings.append(f"not byte-compiled: {names} (not found in the install directories "
                        f"of {python}); Python compiles its modules when it first imports them")
    if summary.get("stale") and not target:  # (--target without --upgrade leaves them)
        names = ", ".join(printable(str(m)) for m in summary["stale"])
        warnings.append(f"not byte-compiled: {names} (pip did not rewrite its RECORD in the "
                        f"install directories of {python}: already installed, or a file-system "
                        "clock behind this machine's); Python compiles its modules when it "
                        "first imports them")
    return warnings


def _compile_failed(detail: str) -> str:
    return ("the checked artifacts were installed (pip --no-compile), but byte-compiling "
            f"them afterwards failed: {detail}")
