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
  :data:`_UNSUPPORTED`), as are the legacy options pip 26 no longer knows
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from safeinstall.errors import RequirementError

__all__ = [
    "ParsedRequirements",
    "RequirementFileOptions",
    "RequirementLine",
    "parse_requirement_files",
]


@dataclass(frozen=True)
class RequirementLine:
    """One requirement (or constraint) line of a requirements file."""

    #: The requirement as written, after ``${VAR}`` expansion and with options and trailing
    #: whitespace removed: a PEP 508 string, a URL, ``name @ url`` or a path. Not validated.
    text: str
    #: ``"path:lineno"`` of the (first physical) line; ``path`` is the file as given for
    #: top-level files and the absolute path for included ones.
    source: str
    #: ``"algo:hexdigest"`` (lower-case hex) from the ``--hash`` options of the line, in order.
    #: Always empty for editable lines: pip ignores ``--hash`` there.
    hashes: tuple[str, ...] = ()
    #: The line used ``-e``/``--editable``.
    editable: bool = False
    #: The line comes from a file included with ``-c`` (a ``-r`` inside a constraints file
    #: includes requirements again, exactly as in pip).
    constraint: bool = False
    #: Absolute directory of the file the line is in. Note that pip itself resolves relative
    #: paths in requirement lines against the current directory, not against this one.
    base_dir: str = ""


@dataclass(frozen=True)
class RequirementFileOptions:
    """Global options met in the files, combined as pip's finder combines them.

    Files are visited in pip's order: every constraints file, then every requirements file,
    each depth-first through its ``-r``/``-c`` includes.

    * ``index_url`` is the last non-empty ``-i`` seen before any ``--no-index``. When set, it
      replaces the command-line index *and* every extra index URL seen before it (command-line
      ones included): pip's index list becomes ``[index_url, *extra_index_urls]``.
    * ``extra_index_urls`` are the ``--extra-index-url`` values seen after the last ``-i`` and
      before any ``--no-index``; without ``index_url`` they are appended to the command line's.
    * ``no_index``: a ``--no-index`` was seen; the two fields above are then empty.
    * ``find_links``: the first ``-f`` of each line, joined to the requirement file's directory
      when that path exists (else kept as written).
    * ``only_binary``/``no_binary``: raw values from every parsed line, including requirement and
      ``-r`` lines (pip applies them from wherever they appear). pip applies the two in the order
      met, which these two tuples do not keep.
    * ``use_feature``: values from every parsed line, without repeats (pip's option default list
      is shared with its command-line options, so every ``--use-feature`` takes effect).
    * ``pre``, ``prefer_binary``, ``require_hashes``, ``trusted_hosts``: from lines without a
      requirement and without ``-r``/``-c`` only, like the index options.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    no_index: bool = False
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    pre: bool = False
    prefer_binary: bool = False
    require_hashes: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    use_feature: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedRequirements:
    """Everything read from a set of requirements and constraints files."""

    requirements: tuple[RequirementLine, ...]
    constraints: tuple[RequirementLine, ...]
    options: RequirementFileOptions


# --------------------------------------------------------------------------------------------
# Options, as pip's requirement-file option parser defines them (req_file.build_parser).

_LONG_OPTIONS: dict[str, str] = {
    "--index-url": "index_url",
    "--pypi-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "--no-index": "no_index",
    "--constraint": "constraints",
    "--requirement": "requirements",
    "--editable": "editables",
    "--find-links": "find_links",
    "--no-binary": "no_binary",
    "--only-binary": "only_binary",
    "--prefer-binary": "prefer_binary",
    "--require-hashes": "require_hashes",
    "--no-require-hashes": "no_require_hashes",
    "--pre": "pre",
    "--all-releases": "all_releases",
    "--only-final": "only_final",
    "--trusted-host": "trusted_hosts",
    "--use-feature": "use_feature",
    "--hash": "hashes",
    "--config-settings": "config_settings",
}

# Every short option pip knows here takes a value.
_SHORT_OPTIONS: dict[str, str] = {
    "-i": "index_url",
    "-c": "constraints",
    "-r": "requirements",
    "-e": "editables",
    "-f": "find_links",
    "-C": "config_settings",
}

_FLAGS = frozenset({"no_index", "prefer_binary", "require_hashes", "no_require_hashes", "pre"})

#: Options pip 26 accepts in requirement files that safe-install cannot honour yet.
_UNSUPPORTED: dict[str, str] = {
    "config_settings": "it passes settings to a build backend",
    "no_require_hashes": "it changes when hash-checking mode applies",
    "all_releases": "it selects pre-releases per package",
    "only_final": "it selects pre-releases per package",
}

#: Options older pips accepted and pip 26 rejects ("no such option").
_LEGACY_OPTIONS = frozenset(
    {
        "--global-option",
        "--install-option",
        "--build-option",
        "--always-unzip",
        "-Z",
        "--use-pep517",
        "--no-use-pep517",
    }
)

_USE_FEATURE_CHOICES = (
    "fast-deps",
    "inprocess-build-deps",
    "venv-isolation",
    "truststore",
    "no-binary-enable-wheel-cache",
    "build-constraint",
)

#: Digest lengths (hex characters) of the algorithms pip allows for --hash (STRONG_HASHES).
_HASH_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[0-9a-fA-F]+")

# --------------------------------------------------------------------------------------------
# Line preprocessing, as pip's req_file.preprocess.

_SCHEME_RE = re.compile(r"^(http|https|file):", re.I)
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_VAR_RE = re.compile(r"(?P<var>\$\{(?P<name>[A-Z0-9_]+)\})")

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

_FORMAT_HINT = "see pip's 'Requirements File Format' documentation for what a line may contain"


def _join_lines(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Join lines ending in a backslash with the next one, except comment lines."""
    primary_line_number = 0
    new_line: list[str] = []
    for line_number, line in lines:
        if not line.endswith("\\") or _COMMENT_RE.match(line):
            if _COMMENT_RE.match(line):
                # Ensures the comment is still matched once joined to a previous line.
                line = " " + line
            if new_line:
                new_line.append(line)
                yield primary_line_number, "".join(new_line)
                new_line = []
            else:
                yield line_number, line
        else:
            if not new_line:
                primary_line_number = line_number
            new_line.append(line.strip("\\"))
    if new_line:  # the last line ends with a backslash
        yield primary_line_number, "".join(new_line)


def _preprocess(content: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    for line_number, joined in _join_lines(enumerate(content.splitlines(), start=1)):
        line = _COMMENT_RE.sub("", joined).strip()
        if not line:
            continue
        for env_var, var_name in _ENV_VAR_RE.findall(line):
            value = environ.get(var_name)
            if value:
                line = line.replace(env_var, value)
        yield line_number, line


def _break_args_options(line: str) -> tuple[str, str]:
    """Split at the first space-separated token starting with '-' (as pip does)."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return line, ""


# --------------------------------------------------------------------------------------------
# Parsing state.


@dataclass
class _LineOptions:
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    no_index: bool = False
    constraints: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    editables: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    prefer_binary: bool = False
    require_hashes: bool = False
    pre: bool = False
    trusted_hosts: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)


@dataclass
class _State:
    environ: Mapping[str, str]
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    no_index: bool = False
    find_links: list[str] = field(default_factory=list)
    trusted_hosts: list[str] = field(default_factory=list)
    pre: bool = False
    prefer_binary: bool = False
    require_hashes: bool = False
    only_binary: list[str] = field(default_factory=list)
    no_binary: list[str] = field(default_factory=list)
    use_feature: list[str] = field(default_factory=list)

    def options(self) -> RequirementFileOptions:
        return RequirementFileOptions(
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            no_index=self.no_index,
            find_links=tuple(self.find_links),
            trusted_hosts=tuple(self.trusted_hosts),
            pre=self.pre,
            prefer_binary=self.prefer_binary,
            require_hashes=self.require_hashes,
            only_binary=tuple(self.only_binary),
            no_binary=tuple(self.no_binary),
            use_feature=tuple(self.use_feature),
        )


class _LineContext:
    """Where a logical line comes from, for error messages."""

    def __init__(self, filename: str, lineno: int, line: str) -> None:
        self.filename = filename
        self.lineno = lineno
        self.line = line

    @property
    def source(self) -> str:
        return f"{self.filename}:{self.lineno}"

    def error(self, message: str, hint: str | None = None) -> RequirementError:
        return RequirementError(f"{self.source}: {message}", hint=hint)

    def invalid(self, message: str, hint: str | None = None) -> RequirementError:
        shown = self.line if len(self.line) <= 160 else self.line[:157] + "..."
        return self.error(f"invalid line {shown!r}: {message}", hint=hint or _FORMAT_HINT)

    def no_such_option(self, option: str) -> RequirementError:
        if option in _LEGACY_OPTIONS:
            return self.error(
                f"{option} is not supported by safe-install yet (pip 26 rejects it too: "
                "no such option)",
                hint=f"remove {option} from the line; it changed how pip built or installed "
                "packages and has been removed from pip",
            )
        return self.invalid(f"no such option: {option}")


def _match_long_option(name: str, ctx: _LineContext) -> str:
    """Resolve a long option or an unambiguous abbreviation of one, like optparse."""
    if name in _LONG_OPTIONS:
        return name
    possibilities = sorted(option for option in _LONG_OPTIONS if option.startswith(name))
    if len(possibilities) == 1:
        return possibilities[0]
    if not possibilities:
        raise ctx.no_such_option(name)
    raise ctx.invalid(f"ambiguous option: {name} ({', '.join(possibilities)}?)")


def _normalize_hash(option: str, value: str, ctx: _LineContext) -> str:
    algo, sep, digest = value.partition(":")
    if not sep:
        raise ctx.invalid(
            f"Arguments to {option} must be a hash name followed by a value, "
            "like --hash=sha256:abcde...",
        )
    if algo not in _HASH_HEX_LENGTHS:
        raise ctx.invalid(
            f"Allowed hash algorithms for {option} are {', '.join(_HASH_HEX_LENGTHS)}.",
            hint="regenerate the hashes, e.g. with `pip hash` or `pip-compile --generate-hashes`",
        )
    expected = _HASH_HEX_LENGTHS[algo]
    if not _HEX_RE.fullmatch(digest) or len(digest) != expected:
        raise ctx.invalid(
            f"malformed {algo} digest {digest!r} in {option}: expected {expected} hexadecimal "
            "characters",
            hint="regenerate the hashes, e.g. with `pip hash` or `pip-compile --generate-hashes`",
        )
    return f"{algo}:{digest.lower()}"


def _apply_option(
    dest: str, option: str, value: str | None, opts: _LineOptions, state: _State, ctx: _LineContext
) -> None:
    if dest in _UNSUPPORTED:
        raise ctx.error(
            f"{option} is not supported by safe-install yet; {_UNSUPPORTED[dest]}",
            hint=f"remove {option} from the line, or use pip directly for this install",
        )
    if dest in _FLAGS:
        setattr(opts, dest, True)
        return
    assert value is not None
    if dest == "index_url":
        opts.index_url = value
    elif dest in ("no_binary", "only_binary"):
        if value.startswith("-"):
            raise ctx.invalid("--no-binary / --only-binary option requires 1 argument.")
        # pip applies these to its finder while parsing, whatever else the line holds.
        (state.no_binary if dest == "no_binary" else state.only_binary).append(value)
    elif dest == "use_feature":
        if value not in _USE_FEATURE_CHOICES:
            choices = ", ".join(repr(choice) for choice in _USE_FEATURE_CHOICES)
            raise ctx.invalid(f"option {option}: invalid choice: {value!r} (choose from {choices})")
        # pip's --use-feature default list is shared with its command-line options, so a
        # feature named on any line (requirement and -r lines included) takes effect.
        if value not in state.use_feature:
            state.use_feature.append(value)
    elif dest == "hashes":
        opts.hashes.append(_normalize_hash(option, value, ctx))
    else:
        values: list[str] = getattr(opts, dest)
        values.append(value)


def _parse_options(tokens: list[str], state: _State, ctx: _LineContext) -> _LineOptions:
    """Parse option tokens the way optparse does for pip's requirement-line parser."""
    opts = _LineOptions()
    rargs = list(tokens)
    while rargs:
        arg = rargs.pop(0)
        if arg == "--":
            break  # everything after is positional, which pip ignores
        if arg.startswith("--"):
            name, explicit, attached = arg.partition("=")
            if explicit:
                rargs.insert(0, attached)
            option = _match_long_option(name, ctx)
            dest = _LONG_OPTIONS[option]
            value: str | None = None
            if dest not in _FLAGS:
                if not rargs:
                    raise ctx.invalid(f"{option} option requires 1 argument")
                value = rargs.pop(0)
            elif explicit:
                raise ctx.invalid(f"{option} option does not take a value")
            _apply_option(dest, option, value, opts, state, ctx)
        elif arg.startswith("-") and len(arg) > 1:
            option = arg[:2]
            if option not in _SHORT_OPTIONS:
                raise ctx.no_such_option(option)
            if len(arg) > 2:
                value = arg[2:]
            elif rargs:
                value = rargs.pop(0)
            else:
                raise ctx.invalid(f"{option} option requires 1 argument")
            _apply_option(_SHORT_OPTIONS[option], option, value, opts, state, ctx)
        # else: a positional word among the options; pip's parser silently drops it.
    return opts


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


def _read(path: str, display: str, constraint: bool, ctx: _LineContext | None) -> str:
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


def _check_trusted_host(host: str, ctx: _LineContext) -> None:
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
        self.state = _State(environ=environ)

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
        included_at: _LineContext | None,
    ) -> None:
        content = _read(path, display, constraint, included_at)
        base_dir = os.path.dirname(os.path.abspath(path))
        for lineno, line in _preprocess(content, self.state.environ):
            ctx = _LineContext(display, lineno, line)
            args, options_str = _break_args_options(line)
            try:
                tokens = shlex.split(options_str)
            except ValueError as exc:
                raise ctx.invalid(
                    f"could not split options {options_str!r}: {exc}",
                    hint="check the quotes and backslashes in the options",
                ) from None
            opts = _parse_options(tokens, self.state, ctx)

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
        ctx: _LineContext,
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
        self, text: str, opts: _LineOptions, constraint: bool, base_dir: str, ctx: _LineContext
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

    def _apply_global_options(self, opts: _LineOptions, path: str, ctx: _LineContext) -> None:
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
