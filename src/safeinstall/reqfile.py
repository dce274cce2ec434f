"""Parse pip's requirements-file format exactly as pip 26 does.

This module reimplements ``pip._internal.req.req_file`` (pip 26.3) without importing pip:

* physical lines are split with :meth:`str.splitlines`; a line ending in ``\\`` is joined with the
  next one (all backslashes at both ends of the continued line are stripped, as pip does), a
  comment line ends a continuation, and a continuation at end of file is kept;
* ``#`` starts a comment at the start of a line or after whitespace (so ``#egg=`` and
  ``#sha256=`` URL fragments survive), blank lines are skipped;
* ``${NAME}`` is expanded from ``environ`` only for names matching ``[A-Z0-9_]+`` and only when
  the value is non-empty; anything else is left as written;
* the line is cut at the first space-separated token starting with ``-``: what precedes it is the
  requirement (kept verbatim, so markers are not mangled), what follows is split with
  :func:`shlex.split` and parsed like :mod:`optparse` does (``--opt=value``, ``--opt value``,
  ``-ovalue``, ``-o value``, unambiguous abbreviations of long options, ``--`` ends options,
  stray positional words are ignored);
* ``-r``/``-c`` paths are relative to the including file; a file may be included several times,
  but a file that (indirectly) includes itself is an error;
* requirement lines only use ``--hash`` (and ``-e``); index options on them are ignored, except
  ``--no-binary``/``--only-binary`` which pip applies from every line it parses;
* on a line with no requirement, ``-r`` wins over ``-c`` and only the first of each is used,
  and the other options on that line are ignored; only the first ``-f`` of a line is used.

Deliberate differences from pip, all of them errors where pip would go on:

* remote (``http:``, ``https:``, ``file:``) and ``pylock.toml`` requirement files are refused;
* options that pip accepts but safe-install cannot honour yet are refused (see
  :data:`safeinstall.reqlines._UNSUPPORTED`), as are the legacy options pip 26 no longer knows
  (``--global-option``, ``--install-option``, ``-Z`` ...), with a clearer message than pip's;
* a ``--hash`` digest that is empty, not hexadecimal or of the wrong length for its algorithm
  is refused (pip would accept it and then fail, or silently ignore it if another digest
  matches);
* bytes that cannot be decoded are refused (pip falls back to the locale encoding and crashes).
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import PurePath

from safeinstall.errors import RequirementError
from safeinstall.reqlines import (
    LineContext,
    LineOptions,
    ParsedRequirements,
    ParseState,
    RequirementLine,
    break_args_options,
    parse_options,
    preprocess,
)

__all__ = ["parse_requirement_files"]


# --------------------------------------------------------------------------------------------
# Constants of files.

_SCHEME_RE = re.compile(r"^(http|https|file):", re.I)

# Order matters: BOM_UTF16_LE is a prefix of BOM_UTF32_LE.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_PEP263_ENCODING_RE = re.compile(rb"coding[:=]\s*([-\w.]+)")

_PYLOCK_NAME_RE = re.compile(r"^pylock\.([^.]+)\.toml$")
_EXTRAS_SUFFIX_RE = re.compile(r"^(.+)(\[[^\]]+\])$")

#: Far deeper than any real project; pip itself would hit Python's recursion limit.
_MAX_NESTING = 100


# --------------------------------------------------------------------------------------------
# Files.


def _decode(data: bytes, filename: str) -> str:
    hint = (
        "save the file as UTF-8, or declare its encoding with a '# -*- coding: <name> -*-' "
        "comment on its first or second line"
    )
    encoding = "utf-8"
    body = data
    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            encoding, body = bom_encoding, data[len(bom) :]
            break
    else:
        for line in data.split(b"\n")[:2]:
            if line[0:1] == b"#":
                found = _PEP263_ENCODING_RE.search(line)
                if found is not None:
                    encoding = found.group(1).decode("ascii")
                    break
    try:
        return body.decode(encoding)
    except LookupError:
        raise RequirementError(
            f"{filename}:1: unknown encoding {encoding!r} declared in the file", hint=hint
        ) from None
    except UnicodeDecodeError as exc:
        lineno = body[: exc.start].count(b"\n") + 1
        raise RequirementError(
            f"{filename}:{lineno}: cannot decode the file as {encoding}: {exc.reason} "
            f"(byte {body[exc.start : exc.start + 1]!r} at offset {exc.start})",
            hint=hint,
        ) from None


def _read(path: str, display: str, constraint: bool, ctx: LineContext | None) -> str:
    kind = "constraints" if constraint else "requirements"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"could not open {kind} file {path}: {reason}"
        hint = "check the path; relative paths in -r/-c lines are relative to the including file"
        if ctx is not None:
            raise ctx.error(message, hint=hint) from None
        raise RequirementError(f"{display}: {message}", hint="check the path") from None
    return _decode(data, display)


def _url_scheme(location: str) -> str:
    try:
        return urllib.parse.urlsplit(location).scheme
    except ValueError:
        found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", location)
        return found.group(1).lower() if found else ""


def _refuse_url(location: str, kind: str) -> RequirementError:
    if location.lower().startswith("file:"):
        hint = f"pass the local path of the {kind} file instead of a file: URL"
    else:
        hint = f"download the {kind} file and pass the local file instead"
    return RequirementError(
        f"{location}: remote {kind} files are not supported by safe-install yet", hint=hint
    )


def _is_pylock(location: str) -> bool:
    found = _EXTRAS_SUFFIX_RE.match(location)
    filename = found.group(1).rstrip() if found else location
    if filename.lower().startswith(("http:", "https:", "file:")):
        filename = _url_path_tail(filename)
    name = PurePath(filename).name
    return name == "pylock.toml" or bool(_PYLOCK_NAME_RE.match(name))


def _url_path_tail(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).path.rpartition("/")[-1]
    except ValueError:
        return ""


def _check_trusted_host(host: str, ctx: LineContext) -> None:
    """Refuse what pip's session.add_trusted_host crashes on (no host part, bad port)."""
    netloc = host
    if netloc.count(":") >= 2 and "@" not in netloc and "[" not in netloc:
        netloc = f"[{netloc}]"  # a bare IPv6 address, as pip wraps it
    try:
        parsed = urllib.parse.urlparse(f"https://{netloc}")
        hostname, _ = parsed.hostname, parsed.port
    except ValueError as exc:
        hostname, reason = None, str(exc)
    else:
        reason = "it has no host part"
    if hostname is None:
        raise ctx.error(
            f"invalid --trusted-host value {host!r}: {reason}",
            hint="give a host name or host:port, e.g. --trusted-host example.org:8080",
        )


class _Parser:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.state = ParseState(environ=environ)

    def parse_top(self, filename: str, constraint: bool) -> None:
        kind = "constraints" if constraint else "requirements"
        if not constraint and _is_pylock(filename):
            raise RequirementError(
                f"{filename}: pylock.toml lock files are not supported by safe-install yet",
                hint="export the lock to a requirements file (with --hash options) and pass that",
            )
        if _url_scheme(filename) in ("http", "https", "file"):
            raise _refuse_url(filename, kind)
        self._parse_file(filename, filename, constraint, {os.path.abspath(filename): None}, None)

    def _parse_file(
        self,
        path: str,
        display: str,
        constraint: bool,
        ancestors: dict[str, str | None],
        included_at: LineContext | None,
    ) -> None:
        content = _read(path, display, constraint, included_at)
        base_dir = os.path.dirname(os.path.abspath(path))
        for lineno, line in preprocess(content, self.state.environ):
            ctx = LineContext(display, lineno, line)
            args, options_str = break_args_options(line)
            try:
                tokens = shlex.split(options_str)
            except ValueError as exc:
                raise ctx.invalid(
                    f"could not split options {options_str!r}: {exc}",
                    hint="check the quotes and backslashes in the options",
                ) from None
            opts = parse_options(tokens, self.state, ctx)

            if args:
                self._add_requirement(args, opts, constraint, base_dir, ctx)
            elif opts.editables:
                self._add_requirement(opts.editables[0], opts, constraint, base_dir, ctx)
            elif opts.requirements or opts.constraints:
                if opts.requirements:
                    target, nested_constraint = opts.requirements[0], False
                else:
                    target, nested_constraint = opts.constraints[0], True
                self._include(path, target, nested_constraint, ancestors, ctx)
            else:
                self._apply_global_options(opts, path, ctx)

    def _include(
        self,
        including: str,
        target: str,
        constraint: bool,
        ancestors: dict[str, str | None],
        ctx: LineContext,
    ) -> None:
        kind = "constraints" if constraint else "requirements"
        if _SCHEME_RE.search(target):
            hint = (
                f"pass the local path of the {kind} file instead of a file: URL"
                if target.lower().startswith("file:")
                else f"download the {kind} file and refer to the local copy"
            )
            raise ctx.error(
                f"remote {kind} file {target} is not supported by safe-install yet", hint=hint
            )
        req_path = os.path.abspath(os.path.join(os.path.dirname(including), target))
        if req_path in ancestors:
            first = ancestors[req_path]
            tail = f" and again in {first}" if first is not None else ""
            raise ctx.error(
                f"{req_path} recursively references itself in {ctx.filename}{tail}",
                hint="remove the -r/-c line that closes the cycle",
            )
        if len(ancestors) >= _MAX_NESTING:
            raise ctx.error(
                f"requirement files nested more than {_MAX_NESTING} levels deep at {req_path}",
                hint="flatten the chain of -r/-c includes",
            )
        nested_ancestors = {**ancestors, req_path: ctx.filename}
        self._parse_file(req_path, req_path, constraint, nested_ancestors, ctx)

    def _add_requirement(
        self, text: str, opts: LineOptions, constraint: bool, base_dir: str, ctx: LineContext
    ) -> None:
        editable = bool(opts.editables)
        if editable and constraint:
            raise ctx.error(
                "Editable requirements are not allowed as constraints",
                hint="drop -e/--editable from the constraints file",
            )
        requirement = RequirementLine(
            text=text.rstrip(),
            source=ctx.source,
            # pip ignores --hash on editable lines.
            hashes=() if editable else tuple(dict.fromkeys(opts.hashes)),
            editable=editable,
            constraint=constraint,
            base_dir=base_dir,
        )
        if constraint:
            self.state.constraints.append(requirement)
        else:
            self.state.requirements.append(requirement)

    def _apply_global_options(self, opts: LineOptions, path: str, ctx: LineContext) -> None:
        state = self.state
        # A --hash without a requirement is ignored by pip (with a warning).
        if opts.no_index:
            state.no_index = True
            state.index_url = None
            state.extra_index_urls.clear()
        if opts.index_url and not state.no_index:
            state.index_url = opts.index_url
            state.extra_index_urls.clear()
        if opts.extra_index_urls and not state.no_index:
            state.extra_index_urls.extend(opts.extra_index_urls)
        if opts.find_links:
            value = opts.find_links[0]
            relative_to_file = os.path.join(os.path.dirname(os.path.abspath(path)), value)
            if os.path.exists(relative_to_file):
                value = relative_to_file
            state.find_links.append(value)
        for host in opts.trusted_hosts:
            _check_trusted_host(host, ctx)
            state.trusted_hosts.append(host)
        state.pre = state.pre or opts.pre
        state.prefer_binary = state.prefer_binary or opts.prefer_binary
        state.require_hashes = state.require_hashes or opts.require_hashes


def parse_requirement_files(
    requirement_files: Sequence[str] = (),
    constraint_files: Sequence[str] = (),
    *,
    environ: Mapping[str, str],
) -> ParsedRequirements:
    """Read requirements and constraints files like ``pip install -r ... -c ...``.

    Constraints files are read first, then requirements files, as pip does. ``environ`` is used
    for ``${VAR}`` expansion (``os.environ`` is never read). Every problem is reported as a
    :class:`~safeinstall.errors.RequirementError` naming the file and line.
    """
    parser = _Parser(environ)
    for filename in constraint_files:
        parser.parse_top(filename, constraint=True)
    for filename in requirement_files:
        parser.parse_top(filename, constraint=False)
    state = parser.state
    return ParsedRequirements(
        requirements=tuple(state.requirements),
        constraints=tuple(state.constraints),
        options=state.options(),
    )
