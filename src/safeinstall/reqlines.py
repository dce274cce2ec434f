"""The lines of a requirements file, as pip 26 reads them (``pip._internal.req.req_file``):
joining continued lines, comments and ``${NAME}`` (:func:`preprocess`), splitting the
requirement from its options (:func:`break_args_options`), and pip's optparse-like option
parser (:func:`parse_options`), with the values a parse gives. :mod:`safeinstall.reqfile`
reads the files and follows ``-r``/``-c``; its docstring lists the rules and the deliberate
differences from pip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from safeinstall.errors import RequirementError


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

_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_VAR_RE = re.compile(r"(?P<var>\$\{(?P<name>[A-Z0-9_]+)\})")

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


def preprocess(content: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    for line_number, joined in _join_lines(enumerate(content.splitlines(), start=1)):
        line = _COMMENT_RE.sub("", joined).strip()
        if not line:
            continue
        for env_var, var_name in _ENV_VAR_RE.findall(line):
            value = environ.get(var_name)
            if value:
                line = line.replace(env_var, value)
        yield line_number, line


def break_args_options(line: str) -> tuple[str, str]:
    """Split at the first space-separated token starting with '-' (as pip does)."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return line, ""


# --------------------------------------------------------------------------------------------
# Parsing state.


@dataclass
class LineOptions:
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
class ParseState:
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


class LineContext:
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


def _match_long_option(name: str, ctx: LineContext) -> str:
    """Resolve a long option or an unambiguous abbreviation of one, like optparse."""
    if name in _LONG_OPTIONS:
        return name
    possibilities = sorted(option for option in _LONG_OPTIONS if option.startswith(name))
    if len(possibilities) == 1:
        return possibilities[0]
    if not possibilities:
        raise ctx.no_such_option(name)
    raise ctx.invalid(f"ambiguous option: {name} ({', '.join(possibilities)}?)")


def _normalize_hash(option: str, value: str, ctx: LineContext) -> str:
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
    dest: str, option: str, value: str | None, opts: LineOptions, state: ParseState,
    ctx: LineContext,
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


def parse_options(tokens: list[str], state: ParseState, ctx: LineContext) -> LineOptions:
    """Parse option tokens the way optparse does for pip's requirement-line parser."""
    opts = LineOptions()
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
