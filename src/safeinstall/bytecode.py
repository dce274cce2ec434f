"""Byte-compiling what pip installed, on every core (pip compiles file after file).

The install step (:mod:`safeinstall.installer`) runs ``pip install --no-compile`` when
:func:`compiles_afterwards` says so; a :class:`Compiler` starts with pip (compiling the wheels'
code on the cores pip leaves free) and, once pip has finished, writes the bytecode of exactly
the ``.py`` files pip wrote in that install, with the target interpreter, as pip would have
(same ``.pyc`` files, RECORD rows as pip writes them, so ``pip uninstall`` and ``pip check``
behave as after a plain pip install).

About 600 lines, kept as one module on purpose: half of it is the script the target
interpreter runs (``_COMPILE_SCRIPT``), one self-contained text that can import nothing of
ours, beside the class that drives it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
import compileall, csv, functools, hashlib, importlib.machinery, importlib.util, json, marshal
import os, py_compile, shutil, site, stat, sysconfig, tempfile, warnings, zipfile


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


def quiet_worker():
    warnings.filterwarnings("ignore")


def make_pool(jobs):
    # a process pool where there are cores and enough files; None: one file after another
    n = workers()
    if n < 2 or jobs <= 8:
        return None
    try:
        from concurrent.futures import ProcessPoolExecutor
        return ProcessPoolExecutor(max_workers=min(n, 32), initializer=quiet_worker)
    except Exception:  # no process pool here (e.g. no semaphores)
        return None


def run_all(pool, fn, jobs):
    if pool is not None:
        try:
            chunk = max(1, min(16, len(jobs) // (workers() * 4)))
            return list(pool.map(fn, jobs, chunksize=chunk))
        except Exception:  # the pool broke: one after another
            pass
    return [fn(job) for job in jobs]


compile_one = functools.partial(compileall.compile_file, force=True, quiet=True)


# Precompiling: while pip installs, the code of each .py file of the wheels is compiled from
# the wheel's bytes, for the path pip is expected to write it to (the code names its file).
# Once pip has finished, a .pyc is made from it only for a file pip wrote at that very path
# with those very bytes (sha256), with the header py_compile would write (that file's
# modification time and size, or the source hash); any other file is compiled as before.

PRECOMPILE_LIMIT = 16 << 20  # bytes of one file (zipfile reads no more than it declares)


def expected_paths(wheel, target, user):
    # (size, wheel, member, path) of the wheel's .py files, path where pip installs it (a
    # guess: a wrong one only means that the file is compiled after pip, as without this)
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
        tops = {i.filename.split("/", 1)[0] for i in infos if "/" in i.filename}
        dist_infos = [t for t in tops if t.endswith(".dist-info")]
        if len(dist_infos) != 1:
            return []
        meta_info = archive.getinfo(dist_infos[0] + "/WHEEL")
        if meta_info.file_size > 1 << 20:
            return []
        meta = archive.read(meta_info).decode("utf-8", "replace")
    pure_root = any(k.strip().lower() == "root-is-purelib" and v.strip().lower() == "true"
                    for k, _, v in (line.partition(":") for line in meta.splitlines()))
    if target is not None:
        pure = plat = target
    else:
        paths = sysconfig.get_paths(f"{os.name}_user") if user else sysconfig.get_paths()
        pure, plat = paths["purelib"], paths["platlib"]
    data = dist_infos[0][:-len(".dist-info")] + ".data/"
    out = []
    for info in infos:
        name = info.filename
        if not name.endswith(".py") or info.is_dir() or info.file_size > PRECOMPILE_LIMIT:
            continue  # (a larger file is compiled after pip: at most this much in memory)
        if name.startswith(data):
            kind, _, rest = name[len(data):].partition("/")
            base = {"purelib": pure, "platlib": plat}.get(kind)
        else:
            base, rest = (pure if pure_root else plat), name
        if base and rest:
            out.append((info.file_size, wheel, name, os.path.normpath(os.path.join(base, rest))))
    return out


archives = {}


def precompile(job):
    wheel, member, path, out = job
    try:
        archive = archives.get(wheel)
        if archive is None:
            archive = archives[wheel] = zipfile.ZipFile(wheel)
        source = archive.read(member)
        loader = importlib.machinery.SourceFileLoader("<py_compile>", path)
        code = loader.source_to_code(source, path)
        # held by a name, as py_compile holds it: marshal flags objects it sees shared
        blob = marshal.dumps(code)
        with open(out, "wb") as f:
            f.write(blob)
    except Exception:  # e.g. a syntax error: compiled (and failing) after pip, as before
        return None
    return path, hashlib.sha256(source).hexdigest(), out


def write_precompiled(path, digest, blob_file):
    # py_compile.compile(path) with the code compiled beforehand; False: not done
    from importlib import _bootstrap_external as bootstrap
    if not (hasattr(bootstrap, "_write_atomic") and hasattr(bootstrap, "_calc_mode")):
        return False
    cfile = importlib.util.cache_from_source(path)
    if os.path.islink(cfile) or (os.path.exists(cfile) and not os.path.isfile(cfile)):
        return False  # py_compile refuses these: left to it
    with open(path, "rb") as f:
        source = f.read()
    if hashlib.sha256(source).hexdigest() != digest:
        return False  # not the bytes compiled
    with open(blob_file, "rb") as f:
        blob = f.read()
    mode = py_compile._get_default_invalidation_mode()
    if mode == py_compile.PycInvalidationMode.TIMESTAMP:
        st = os.stat(path)
        fields = (0, int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
        header = b"".join(x.to_bytes(4, "little") for x in fields)
    else:
        checked = mode == py_compile.PycInvalidationMode.CHECKED_HASH
        header = (0b1 | (0b10 if checked else 0)).to_bytes(4, "little")
        header += importlib.util.source_hash(source)
    os.makedirs(os.path.dirname(cfile), exist_ok=True)
    bootstrap._write_atomic(cfile, importlib.util.MAGIC_NUMBER + header + blob,
                            bootstrap._calc_mode(path))
    return True


def compile_installed_file(job):
    path, pre = job
    if pre is not None:
        try:
            if write_precompiled(path, *pre):
                return "precompiled"
        except Exception:
            pass
    return "compiled" if compile_one(path) else ""


def precompile_batch(batch):
    return [precompile(job) for job in batch]


def precompile_jobs(request):
    # (batches of precompile jobs, largest files first; scratch directory) for
    # {"wheels", "target", "user", "scratch"}
    wheels = request.get("wheels") or []
    scratch = request.get("scratch")
    if not wheels or not scratch:
        return [], None
    jobs = []
    for wheel in wheels:
        try:
            jobs += expected_paths(wheel, request.get("target"), bool(request.get("user")))
        except Exception:  # left to the compile after pip
            continue
    if not jobs:
        return [], None
    scratch = tempfile.mkdtemp(dir=scratch, prefix="pyc-")
    jobs.sort(key=lambda j: -j[0])  # the largest first: the cores finish together
    work = [(w, m, p, os.path.join(scratch, str(i))) for i, (_s, w, m, p) in enumerate(jobs)]
    return [work[i:i + 4] for i in range(0, len(work), 4)], scratch


def precompile_while_pip_installs(pool, batches, precompiled):
    # on the cores pip leaves free (pip installs on one): batches go to the pool, at most one
    # per spare core at a time, until the second line arrives; then the pool is pip's no
    # more, and what is left is compiled from the installed files. Returns that line.
    import threading
    from concurrent.futures import FIRST_COMPLETED, wait

    line = []
    reader = threading.Thread(target=lambda: line.append(sys.stdin.readline()), daemon=True)
    spare = max(1, workers() - 1)
    pending = set()
    batches = iter(batches)
    try:
        while True:
            if not reader.ident or reader.is_alive():
                for batch in batches:
                    pending.add(pool.submit(precompile_batch, batch))
                    if len(pending) >= spare:
                        break
            if not reader.ident:  # after the first submit: the workers are forked by then
                reader.start()
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for result in future.result():
                    if result is not None:
                        precompiled[result[0]] = result[1:]
    except Exception:  # the pool broke: everything is compiled from the installed files
        precompiled.clear()
    if not reader.ident:
        reader.start()
    reader.join()
    return line[0] if line else ""


def main():
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # compile_file's messages (and the workers') go to stderr, as pip's log
    warnings.filterwarnings("ignore")
    # first line: what to precompile while pip installs; second: what pip installed, once it
    # has finished (none: the install did not happen, and nothing is written)
    line = sys.stdin.readline()
    batches, scratch = precompile_jobs(json.loads(line) if line.strip() else {})
    # on one core (no pool), compiling while pip installs would only slow pip down
    pool = make_pool(sum(len(b) for b in batches)) if batches else None
    try:
        precompiled = {}
        if pool is not None:
            line = precompile_while_pip_installs(pool, batches, precompiled)
        else:
            line = sys.stdin.readline()
        if not line.strip():
            return
        install(json.loads(line), out, pool, precompiled)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def install(request, out, pool, precompiled):
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
    own = make_pool(len(paths)) if pool is None else None
    try:
        results = run_all(pool or own, compile_installed_file,
                          [(p, precompiled.get(p)) for p in paths])
    finally:
        if own is not None:
            own.shutdown(wait=True)
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
               "compiled": compiled, "failed": len(paths) - compiled,
               "precompiled": sum(1 for r in results if r == "precompiled")}, out)
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


class Compiler:
    """Byte-compiling what pip installs from ``wheels`` (with ``--no-compile``), as pip would
    have, on every core: run by the target interpreter ``python``, so that the ``.pyc`` files
    are the ones it reads; the same environment as pip's (so the same optimization level,
    ``SOURCE_DATE_EPOCH`` invalidation mode and ``PYTHONPYCACHEPREFIX``).

    Started before pip installs, it compiles the code of the wheels' ``.py`` files from the
    wheels meanwhile (``precompile``); :meth:`finish`, once pip has finished, writes the
    ``.pyc`` files and RECORD rows. A ``.pyc`` is made from precompiled code only for a file
    pip wrote at the path it was compiled for, with the same bytes (sha256); every other file
    is compiled from the installed file then. Until :meth:`finish` nothing is written in the
    target; :meth:`close` (or leaving the ``with`` block) stops it unfinished.

    What: the ``.dist-info`` directories of these wheels, by their exact names, in the target
    interpreter's install directories (``--target``: that directory only) whose RECORD pip
    wrote in this install (modified since ``since``); of their RECORD, only the ``.py`` files
    pip wrote in this install. A file that does not compile is left as pip leaves it (no
    ``.pyc``, not an error). A distribution that cannot be found is left uncompiled, with a
    warning (Python compiles it on first import). The compiler's own messages are logged
    (``-v``), as pip logs them at debug level."""

    def __init__(self, python: str, wheels: Sequence[Path], settings: PipSettings,
                 env: Mapping[str, str], *, workdir: Path | None = None,
                 precompile: bool = True) -> None:
        self.python = python
        self.infos = [i for i in (dist_info_dir(w) for w in wheels) if i is not None]
        self.target = os.path.abspath(settings.target_dir) if settings.target_dir else None
        self.proc: subprocess.Popen[str] | None = None
        self._error: str | None = None
        self._root: str | None = None
        #: what :meth:`finish` did: counts of ``compiled`` files (of them ``precompiled``),
        #: ``failed`` ones, and the RECORD files ``found``
        self.summary: dict[str, Any] = {}
        if not self.infos:
            return
        # run in an empty directory, with the script's directory off the path: neither the
        # script nor its worker processes (spawned ones start anew) import from the caller's
        # working directory, a checked-out project that may hold a multiprocessing.py
        self._root = tempfile.mkdtemp(prefix="safe-install-compile-", dir=workdir)
        empty = os.path.join(self._root, "cwd")
        try:
            os.mkdir(empty)
            self.proc = subprocess.Popen([python, "-c", _COMPILE_SCRIPT],
                                         env={**env, "PYTHONSAFEPATH": "1"}, cwd=empty,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True,
                                         start_new_session=hasattr(os, "killpg"))
        except OSError as exc:
            self._error = f"cannot run {python}: {exc.strerror}"
            return
        first = {"wheels": [str(w) for w in wheels], "target": self.target,
                 "user": settings.user, "scratch": self._root} if precompile else {}
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(first) + "\n")
            self.proc.stdin.flush()
        except OSError:  # it ended already: finish() says how
            pass

    def finish(self, since: float) -> list[str]:
        """Compile what pip installed (pip has finished) and return the warnings, for the
        caller to show."""
        if not self.infos:
            return []
        if self._error is not None or self.proc is None:
            self.close()
            raise CompileFailed(_compile_failed(self._error or "not started"))
        proc = self.proc
        request = json.dumps({"infos": self.infos, "since": since, "target": self.target})
        try:
            with proc:
                stdout, stderr = proc.communicate(request + "\n")
        except KeyboardInterrupt:  # .pyc files and RECORD are each replaced atomically
            kill_group(proc)
            raise
        finally:
            self.close()
        return self._summary(proc.returncode, stdout, stderr)

    def _summary(self, returncode: int, stdout: str, stderr: str) -> list[str]:
        from safeinstall.display import printable

        python, target = self.python, self.target
        try:
            summary = json.loads(stdout) if returncode == 0 else None
        except ValueError:
            summary = None
        if not isinstance(summary, dict):
            raise CompileFailed(_compile_failed(
                f"{python} exited with {returncode}:\n{printable(stderr.strip()[-3000:])}"),
                hint="the installed packages work without bytecode (Python compiles a module "
                "when it first imports it); `python -m compileall` compiles them, or pass "
                "--no-compile")
        self.summary = summary
        logger.debug("byte-compiled %s file(s) (%s compiled while pip installed), %s failed",
                     summary.get("compiled"), summary.get("precompiled"), summary.get("failed"))
        if stderr.strip() and logger.isEnabledFor(logging.DEBUG):  # pip logs at debug level
            logger.debug("byte-compiling: %s", stderr.strip())
        warnings = []
        if summary.get("missing") and not target:
            names = ", ".join(printable(str(m)) for m in summary["missing"])
            warnings.append(f"not byte-compiled: {names} (not found in the install "
                            f"directories of {python}); Python compiles its modules when it "
                            "first imports them")
        if summary.get("stale") and not target:  # (--target without --upgrade leaves them)
            names = ", ".join(printable(str(m)) for m in summary["stale"])
            warnings.append(f"not byte-compiled: {names} (pip did not rewrite its RECORD in "
                            f"the install directories of {python}: already installed, or a "
                            "file-system clock behind this machine's); Python compiles its "
                            "modules when it first imports them")
        return warnings

    def close(self) -> None:
        """Stop it if unfinished (it has written nothing then), and remove its files."""
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc)
            with self.proc:
                self.proc.communicate()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Compiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compile_installed(python: str, wheels: Sequence[Path], settings: PipSettings,
                      env: Mapping[str, str], since: float) -> list[str]:
    """:class:`Compiler` for an install pip has finished: compile what it installed from
    ``wheels`` now; returns the warnings."""
    with Compiler(python, wheels, settings, env) as compiler:
        return compiler.finish(since)


def _compile_failed(detail: str) -> str:
    return ("the checked artifacts were installed (pip --no-compile), but byte-compiling "
            f"them afterwards failed: {detail}")
