"""The library's wiring, shared by both executables (``safe-install`` and the commands of
``safe-install-tool``): a run's inputs (pip's settings over its configuration, the
requirements, pylock.toml files per target), its target interpreter, its HTTP session and
finder, the trust-store options, and the index pages fetched ahead.

Nothing heavy is imported at module level: the command line imports this first thing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeinstall.background import Background

if TYPE_CHECKING:
    import ssl

    from safeinstall.cmdline import CommandLine
    from safeinstall.finder import Finder
    from safeinstall.models import UserRequirement
    from safeinstall.pagework import PagePool
    from safeinstall.pipconfig import PendingPipConfig
    from safeinstall.pipoptions import PipSettings
    from safeinstall.prefetch import PageWarmer
    from safeinstall.reqlines import ParsedRequirements
    from safeinstall.target import PendingProbe, TargetPython


@dataclass(frozen=True)
class RunInputs:
    """What a checked run resolves: pip's settings after the requirement files' own options,
    the requirements (command line, -e, -r files), notes, and the pylock.toml files given to
    -r, which are read per target (:func:`inputs_for_target`)."""

    settings: PipSettings
    parsed: ParsedRequirements
    user_reqs: tuple[UserRequirement, ...]
    notes: tuple[str, ...]
    pylock_files: tuple[str, ...] = ()
    #: paths in a pylock.toml may leave its directory (SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE)
    allow_lock_paths_outside: bool = False


def load_inputs(cmd: CommandLine, environ: Mapping[str, str], cwd: str,
                now: datetime, *, pip_config: PendingPipConfig | None = None) -> RunInputs:
    """pip's configuration and ``cmd`` merged, requirement files read, as ``pip install``
    (``pip_config``: pip's configuration, already being read)."""
    from safeinstall.models import UserRequirement
    from safeinstall.pipconfig import read_pip_config
    from safeinstall.pipoptions import effective_settings, with_file_options
    from safeinstall.reqfile import parse_requirement_files

    config = pip_config.result() if pip_config is not None else \
        read_pip_config(environ, isolated=bool(cmd.get("isolated")))
    settings = effective_settings(cmd, config, cwd, now=now, environ=environ)
    pylocks: tuple[str, ...] = ()
    if any("pylock" in p for p in settings.requirement_files):  # the lock module is heavy
        from safeinstall.locks.model import is_pylock_name, split_extras

        pylocks = tuple(p for p in settings.requirement_files
                        if "://" not in p and is_pylock_name(split_extras(p)[0]))
    parsed = parse_requirement_files(
        [absolute(p, cwd) for p in settings.requirement_files if p not in pylocks],
        [absolute(p, cwd) for p in settings.constraint_files],
        environ=environ,
    )
    settings, notes = with_file_options(settings, parsed.options)
    if settings.python and cmd.get("python") is None and config.get("python") is None:
        notes.insert(0, f"target: the active virtual environment {settings.python} (VIRTUAL_ENV);"
                        " pass --python to choose another interpreter")

    user_reqs = [UserRequirement(text, "command line", base_dir=cwd) for text in cmd.requirements]
    user_reqs += [UserRequirement(e, "command line", editable=True, base_dir=cwd)
                  for e in settings.editables]
    user_reqs += [UserRequirement(line.text, line.source, tuple(line.hashes), line.editable,
                                  line.base_dir) for line in parsed.requirements]
    allow_outside = environ.get("SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE", "").strip().lower() \
        in ("1", "true", "yes", "on")
    return RunInputs(settings, parsed, tuple(user_reqs), tuple(notes), pylocks, allow_outside)


def inputs_for_target(inputs: RunInputs, target: TargetPython, cwd: str) -> RunInputs:
    """Read the pylock.toml files for ``target`` (as pip 26 does for ``-r pylock.toml``): the
    selected packages become hash-pinned requirements, and each package's index is searched
    too, so that its files can be dated."""
    if not inputs.pylock_files:
        return inputs
    from safeinstall.locks.pylock import pylock_requirements
    from safeinstall.selection import FormatControl

    settings = inputs.settings
    fc = FormatControl.from_options(settings.only_binary, settings.no_binary)
    reqs = list(inputs.user_reqs)
    notes = list(inputs.notes)
    extra: list[str] = []
    from safeinstall.urls import canonical_index_url, redact_url

    configured = {canonical_index_url(u) for u in settings.index_urls}
    for location in inputs.pylock_files:
        selection = pylock_requirements(location, target=target, cwd=cwd,
                                        sdist_only=_sdist_only(fc, location, cwd),
                                        allow_outside=inputs.allow_lock_paths_outside)
        reqs += selection.requirements
        notes += selection.notes
        for url in selection.indexes:
            if canonical_index_url(url) not in configured and url not in extra:
                extra.append(url)
    if extra:
        # an index named by a lock is data, not an authority: it is not searched
        notes.append("the lock names indexes that are not configured: "
                     + ", ".join(redact_url(u) for u in extra) + "; its files are dated on "
                     "the configured indexes only (add one with --extra-index-url to use it)")
    return RunInputs(settings, inputs.parsed, tuple(reqs), tuple(notes), ())


def _sdist_only(fc: Any, location: str, cwd: str) -> list[str]:
    """Names for which only sdists are allowed (pip's prefer_sdist_predicate for pylock)."""
    from safeinstall.locks.model import split_extras
    from safeinstall.locks.reader import read_lock

    path = absolute(split_extras(location)[0], cwd)
    try:
        names = [r.name for r in read_lock(path, fmt="pylock").releases]
    except Exception:  # the real read reports errors with context
        return []
    return [n for n in names if "binary" not in fc.allowed(n) and "source" in fc.allowed(n)]


def default_target(settings: PipSettings, early: PendingProbe | None = None) -> TargetPython:
    """The interpreter pip would install for: ``--python``, or this one; restricted by
    ``--platform``/``--python-version``/``--implementation``/``--abi`` when given.
    ``early``: a probe of the command line's ``--python``, already running."""
    from safeinstall.target import current_target, foreign_target, probe_interpreter

    if settings.python and early is not None and early.executable == settings.python:
        target = early.result()
    else:
        target = probe_interpreter(settings.python) if settings.python else current_target()
    if settings.foreign:
        target = foreign_target(python_version=settings.python_version,
                                platforms=settings.platforms or None,
                                implementation=settings.implementation,
                                abis=settings.abis or None, base=target)
    return target


def open_session(settings: PipSettings,
                 default_tls: Background[ssl.SSLContext] | None = None, *,
                 urls: Sequence[str] = ()) -> Any:
    """The run's HTTP client (see :mod:`safeinstall.session`): pip's trusted hosts,
    certificates (``--cert``, ``--client-cert``), proxy, timeout and credentials, with pip's
    ``--retries`` (see :mod:`safeinstall.http`). ``default_tls``: the default TLS context,
    already being built (from :func:`default_tls_context`); ``urls``: locations read besides
    pip's indexes and find-links (``--times-from``)."""
    from safeinstall.http import HttpClient
    from safeinstall.session import LightSession, Session, light_allowed
    from safeinstall.tls import context_for

    default = default_tls.result() if default_tls is not None and not settings.cert else None
    context = context_for(settings.cert, settings.client_cert, default)
    trusted = tuple(settings.trusted_hosts)

    def full() -> Any:
        from unearth.auth import MultiDomainBasicAuth
        from unearth.fetchers.sync import PyPIClient

        extra: dict[str, Any] = {"proxy": settings.proxy} if settings.proxy else {}
        session = PyPIClient(trusted_hosts=trusted, verify=context, timeout=settings.timeout,
                             trust_env=True, **extra)
        # never prompt for a password without a terminal (a 401 would otherwise read stdin)
        prompting = bool(sys.stdin and sys.stdin.isatty())
        session.auth = MultiDomainBasicAuth(prompting=prompting,
                                            index_urls=list(settings.index_urls))
        return session

    why_not = light_allowed(proxy=settings.proxy,
                            urls=[*settings.index_urls, *settings.find_links, *urls])
    light = None if why_not else LightSession(context, timeout=settings.timeout,
                                              trusted_hosts=trusted,
                                              deadline=settings.response_deadline)
    return HttpClient(Session(full, light), retries=settings.retries, trusted_hosts=trusted,
                      deadline=settings.response_deadline)


#: a run gets page children (:func:`page_worker`) from this many expected projects (fewer
#: pages are read faster than a child starts)
PAGE_POOL_PROJECTS = 50


def page_worker(settings: PipSettings, environ: Mapping[str, str], *,
                urls: Sequence[str] = (), projects: int = PAGE_POOL_PROJECTS) -> PagePool | None:
    """The children that fetch and read index pages for the run (:mod:`safeinstall.pagework`),
    with the settings of the run's light session (:func:`open_session`); None when the run
    expects fewer than :data:`PAGE_POOL_PROJECTS` projects (``projects``), or has no light
    session (a proxy, credentials: every page is the run's own)."""
    from safeinstall.pagework import PagePool, Settings
    from safeinstall.session import light_allowed

    if projects < PAGE_POOL_PROJECTS:
        return None
    if light_allowed(proxy=settings.proxy,
                     urls=[*settings.index_urls, *settings.find_links, *urls]) is not None:
        return None
    return PagePool(Settings(
        tls_environ={k: environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in environ},
        cert=settings.cert, client_cert=settings.client_cert,
        trusted_hosts=list(settings.trusted_hosts), timeout=settings.timeout,
        deadline=settings.response_deadline))


def default_tls_context(environ: Mapping[str, str]) -> Background[ssl.SSLContext]:
    """The default TLS context for ``environ`` (:func:`safeinstall.tls.default_context`),
    started first thing in a run: loading the CA certificates runs in a thread, mostly
    without the GIL, while the rest of safe-install starts (tens of milliseconds)."""

    def make() -> ssl.SSLContext:
        from safeinstall.tls import default_context

        return default_context(environ)

    return Background.thread("tls", make)


def make_finder(settings: PipSettings, session: Any, finder_class: type[Finder] | None = None,
                **kwargs: Any) -> Finder:
    from safeinstall.finder import Finder

    cls = finder_class or Finder
    return cls(index_urls=settings.index_urls, find_links=settings.find_links,
               trusted_hosts=settings.trusted_hosts, session=session, **kwargs)


def take_trust_options(argv: Sequence[str], environ: Mapping[str, str]) -> \
        tuple[list[str], str | None]:
    """Remove ``--trust-store URL|off`` and ``--no-trust-store`` from ``argv`` (they are not
    pip's) and return the trust store to use: ``None`` when off, else a store URL (``""`` for
    the default state store). ``SAFE_INSTALL_TRUST_STORE`` sets the default."""
    from safeinstall.errors import UsageError

    value: str | None = environ.get("SAFE_INSTALL_TRUST_STORE", "")
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest += args[i - 1:]
            break
        if arg == "--no-trust-store":
            value = "off"
        elif arg == "--trust-store" or arg.startswith("--trust-store="):
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError("option --trust-store requires a value",
                                 hint="a store URL or path, or 'off'")
        else:
            rest.append(arg)
    if value is not None and value.strip().lower() in ("off", "no", "false", "0", "none"):
        return rest, None
    return rest, value


def absolute(path: str, cwd: str) -> str:
    """``path`` relative to ``cwd`` (a URL is left as it is)."""
    if "://" in path:
        return path
    return path if os.path.isabs(path) else os.path.join(cwd, path)


def start_page_fetches(finder: Finder, user_reqs: Sequence[Any], target: TargetPython,
                       cache_dir: Path | None, *, no_deps: bool,
                       constraints: Sequence[Any] = ()) -> PageWarmer:
    """Fetch, in the background, the index pages of the named requirements that apply to
    ``target`` and (unless ``no_deps``) of their dependencies in the previous run (see
    :class:`safeinstall.prefetch.PageWarmer`). The finder is told which versions the
    requirements and the ``constraints`` (every candidate of their name satisfies them) can
    select, to keep only those in memory (:meth:`Finder.expect`)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from safeinstall.prefetch import DependencyHints, PageWarmer

    names: list[str] = []
    environment = {**target.environment, "extra": ""}
    for ur in user_reqs:
        if ur.editable:
            continue
        try:
            req = Requirement(ur.text)
        except InvalidRequirement:
            continue  # reported by the check itself
        if req.url:
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(environment):
                continue
        except Exception:  # noqa: BLE001, S110 - a marker it cannot evaluate: fetch the page
            pass
        names.append(req.name)
        finder.expect(req.name, req.specifier)  # (memory: keep only the versions it admits)
    for line in constraints:
        try:
            creq = Requirement(line.text)
            if creq.url or creq.extras or (creq.marker is not None
                                           and not creq.marker.evaluate(environment)):
                continue  # (refused or ignored by the check itself)
        except Exception:  # noqa: BLE001, S112 - the check reports it; nothing is set aside
            continue
        finder.expect(creq.name, creq.specifier)
    hints = None if no_deps else DependencyHints.for_target(cache_dir, target)
    return PageWarmer(finder.project, names, hints)
