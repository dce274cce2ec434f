"""safe-install's command line: the options of ``pip install`` (pip 26) and our own, in one
table (:data:`OPTIONS`), the parser of ``safe-install ARGS`` (:func:`parse_command_line`), the
help text made from the table (:func:`help_text`), and argparse declarations made from the same
specs for the commands of ``safe-install-tool`` (:func:`declare`).

``safe-install ARGS`` means ``pip install ARGS``.  Every pip install option is in one of three
groups, and the group decides what we do with it:

* *selection* options change which artifact pip would choose; we implement each one ourselves;
* *passthrough* options only change how pip installs or talks; they are handed to pip unchanged;
* *refused* options would change the selection in a way we do not model yet: we stop with a
  clear message rather than check something other than what pip would install.

Nothing heavy is imported here: ``--help`` and ``--version`` end here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from safeinstall.errors import UsageError

Kind = Literal["flag", "value", "count"]
#: "tool": an option of a safe-install-tool command only (:func:`tool_option`)
Group = Literal["selection", "passthrough", "refused", "ours", "tool"]


@dataclass(frozen=True)
class OptionSpec:
    dest: str
    names: tuple[str, ...]
    kind: Kind
    group: Group
    repeat: bool = False  # value options that may be given several times
    why: str = ""  # for refused options
    metavar: str = ""  # what the value is, in help texts
    #: what it does, in help texts (``safe-install --help`` lists the "ours" options that have
    #: one; safe-install-tool's commands declare theirs with it, see :func:`declare`)
    help: str = ""
    #: taken out of the arguments before they are parsed (:func:`safeinstall.wiring.
    #: take_trust_options`): in the help, not in the parser
    early: bool = False
    #: safe-install-tool's argparse only: the values accepted, the value when the option is
    #: not given (value options), and the conversion of the text given (e.g. ``int``)
    choices: tuple[str, ...] = ()
    default: object = None
    convert: Callable[[str], object] | None = None


def _o(dest: str, *names: str, kind: Kind = "flag", group: Group = "selection",
       repeat: bool = False, why: str = "", metavar: str = "", help: str = "",
       early: bool = False) -> OptionSpec:
    return OptionSpec(dest, names, kind, group, repeat, why, metavar, help, early)


# Options of `pip install` (pip 26) plus our own. Order does not matter.
OPTIONS: tuple[OptionSpec, ...] = (
    # -- selection: implemented by safe-install
    _o("requirements", "-r", "--requirement", kind="value", repeat=True),
    _o("constraints", "-c", "--constraint", kind="value", repeat=True),
    _o("editables", "-e", "--editable", kind="value", repeat=True),
    _o("index_url", "-i", "--index-url", kind="value", metavar="URL",
       help="base URL of the package index (default: pip's, i.e. PyPI)"),
    _o("extra_index_urls", "--extra-index-url", kind="value", repeat=True, metavar="URL",
       help="an additional index (repeatable)"),
    _o("no_index", "--no-index", help="ignore package indexes"),
    _o("find_links", "-f", "--find-links", kind="value", repeat=True, metavar="URL",
       help="a directory or page listing distribution files (repeatable)"),
    _o("trusted_hosts", "--trusted-host", kind="value", repeat=True, metavar="HOST",
       help="allow plain HTTP to HOST (repeatable)"),
    _o("pre", "--pre"),
    _o("no_deps", "--no-deps", "--no-dependencies"),
    _o("upgrade", "-U", "--upgrade"),
    _o("upgrade_strategy", "--upgrade-strategy", kind="value"),
    _o("force_reinstall", "--force-reinstall"),
    _o("ignore_installed", "-I", "--ignore-installed"),
    _o("ignore_requires_python", "--ignore-requires-python"),
    _o("only_binary", "--only-binary", kind="value", repeat=True, metavar="NAMES",
       help="as pip: never select sdists for these projects (:all:)"),
    _o("no_binary", "--no-binary", kind="value", repeat=True, metavar="NAMES",
       help="as pip: never select wheels for these projects (:all:)"),
    _o("prefer_binary", "--prefer-binary", help="as pip: prefer wheels to newer sdists"),
    _o("require_hashes", "--require-hashes"),
    _o("dry_run", "--dry-run"),
    _o("python", "--python", kind="value", metavar="PATH"),
    _o("target", "-t", "--target", kind="value"),
    _o("prefix", "--prefix", kind="value"),
    _o("user", "--user"),
    _o("root", "--root", kind="value"),
    _o("isolated", "--isolated",
       help="ignore pip's configuration files and PIP_* variables"),
    _o("cert", "--cert", kind="value", metavar="PATH", help="CA bundle for HTTPS"),
    _o("client_cert", "--client-cert", kind="value"),
    _o("timeout", "--timeout", "--default-timeout", kind="value", metavar="SECONDS",
       help="network timeout (pip's)"),
    _o("retries", "--retries", kind="value"),
    _o("proxy", "--proxy", kind="value"),
    _o("quiet", "-q", "--quiet", kind="count"),
    _o("verbose", "-v", "--verbose", kind="count"),
    # -- passthrough: how pip installs, not what
    _o("no_warn_script_location", "--no-warn-script-location", group="passthrough"),
    _o("no_warn_conflicts", "--no-warn-conflicts", group="passthrough"),
    _o("compile", "--compile", group="passthrough"),
    _o("no_compile", "--no-compile", group="passthrough"),
    _o("root_user_action", "--root-user-action", kind="value", group="passthrough"),
    _o("break_system_packages", "--break-system-packages", group="passthrough"),
    _o("no_color", "--no-color", group="passthrough"),
    _o("progress_bar", "--progress-bar", kind="value", group="passthrough"),
    _o("log", "--log", "--log-file", "--local-log", kind="value", group="passthrough"),
    _o("no_input", "--no-input", group="passthrough"),
    _o("disable_pip_version_check", "--disable-pip-version-check", group="passthrough"),
    _o("exists_action", "--exists-action", kind="value", repeat=True, group="passthrough"),
    _o("cache_dir", "--cache-dir", kind="value", group="passthrough"),
    _o("no_cache_dir", "--no-cache-dir", group="passthrough"),
    _o("require_virtualenv", "--require-virtualenv", "--require-venv", group="passthrough"),
    _o("no_clean", "--no-clean", group="passthrough"),
    _o("src", "--src", "--source", "--source-dir", "--source-directory", kind="value",
       group="passthrough"),
    _o("no_build_isolation", "--no-build-isolation", group="passthrough"),
    _o("check_build_dependencies", "--check-build-dependencies", group="passthrough"),
    _o("keyring_provider", "--keyring-provider", kind="value", group="passthrough"),
    _o("use_feature", "--use-feature", kind="value", repeat=True, group="passthrough"),
    _o("use_deprecated", "--use-deprecated", kind="value", repeat=True, group="passthrough"),
    _o("debug", "--debug", group="passthrough"),
    _o("no_proxy_env", "--no-proxy-env", group="passthrough"),
    _o("resume_retries", "--resume-retries", kind="value", group="passthrough"),
    _o("refresh_package", "--refresh-package", kind="value", repeat=True, group="passthrough"),
    _o("no_require_hashes", "--no-require-hashes"),
    _o("build_constraints", "--build-constraint", kind="value", repeat=True),
    # -- refused: would change the selection in ways not modelled yet
    _o("platforms", "--platform", kind="value", repeat=True),
    _o("python_version", "--python-version", kind="value"),
    _o("implementation", "--implementation", kind="value"),
    _o("abis", "--abi", kind="value", repeat=True),
    _o("uploaded_prior_to", "--uploaded-prior-to", kind="value"),
    _o("config_settings", "-C", "--config-settings", kind="value", repeat=True, group="refused",
       why="build settings can change the metadata of built packages"),
    _o("global_option", "--global-option", kind="value", repeat=True, group="refused",
       why="setup.py options can change the metadata of built packages"),
    _o("group", "--group", kind="value", repeat=True, group="refused",
       why="dependency groups from pyproject.toml are not read yet; list the requirements"),
    _o("requirements_from_script", "--requirements-from-script", kind="value", repeat=True,
       group="refused", why="inline script metadata is not read yet; list the requirements"),
    _o("only_deps", "--only-deps", group="refused", why="not modelled yet"),
    _o("all_releases", "--all-releases", kind="value", repeat=True, group="refused",
       why="per-package pre-release control is not modelled yet; use --pre"),
    _o("only_final", "--only-final", kind="value", repeat=True, group="refused",
       why="per-package pre-release control is not modelled yet"),
    _o("use_pep517", "--use-pep517", "--no-use-pep517", group="refused",
       why="legacy setup.py builds are not supported"),
    # -- ours, in the order of --help
    _o("late_after", "--late-after", kind="value", group="ours", metavar="DURATION",
       help="lateness threshold relative to the release start (default 24h; units s, m, h, "
       "d, w: '36h', '7d')"),
    _o("on_late", "--on-late", kind="value", group="ours", metavar="refuse|warn|verify",
       help="what a late artifact does (default refuse); verify installs it only when its "
       "content is proven identical to an on-time file of its release (late-verified)"),
    _o("allow_late", "--allow-late", kind="value", repeat=True, group="ours",
       metavar="NAME==VERSION|sha256:HEX",
       help="accept late files of one release, or one file (repeatable)"),
    _o("on_unknown_upload_time", "--on-unknown-upload-time", kind="value", group="ours",
       metavar="refuse|warn", help="index gives no upload time (default refuse)"),
    _o("on_untrusted_hash", "--on-untrusted-hash", kind="value", group="ours",
       metavar="warn|refuse",
       help="no --hash vouches for the artifact (default warn; always refuse in "
       "hash-checking mode)"),
    _o("on_unverifiable", "--on-unverifiable", kind="value", group="ours",
       metavar="refuse|warn",
       help="direct URL / VCS requirements (default refuse; local paths are allowed)"),
    _o("on_multiple_indexes", "--on-multiple-indexes", kind="value", group="ours",
       metavar="refuse|warn",
       help="a name found on several indexes with different files: the dependency-confusion "
       "setup (default refuse)"),
    _o("index_for", "--index-for", kind="value", repeat=True, group="ours",
       metavar="NAME=URL",
       help="take NAME only from that index (repeatable; or [index-for] in "
       "safe-install.toml); other indexes are not asked about it"),
    _o("build_with_pins", "--build-with-pins", group="ours",
       help="build sdists with your pinned versions (name==version, with their hashes) "
       "where they satisfy the build requirements"),
    _o("times_from", "--times-from", kind="value", repeat=True, group="ours", metavar="URL",
       help="date a mirror's files by the identical file (name and sha256) on this index, "
       "e.g. https://pypi.org/simple/ (repeatable)"),
    _o("report", "--report", kind="value", group="ours", metavar="FILE",
       help="write the JSON report ('-' for stdout)"),
    _o("response_deadline", "--response-deadline", kind="value", group="ours",
       metavar="SECONDS",
       help="the longest one response from an index may take in all (default 120; plus 1 s "
       "per 100 KiB it announces)"),
    _o("config_file", "--config", kind="value", group="ours", metavar="FILE",
       help="the one settings file to read (default: safe-install.toml or "
       "[tool.safe-install] in pyproject.toml, from here up to the repository root, then "
       "the user's config.toml; /dev/null: none)"),
    _o("trust_store", "--trust-store", kind="value", group="ours", metavar="URL|off",
       early=True,
       help="trust on first use: remember the files of each release as first seen, refuse a "
       "selected file added later (release-changed); default the state store "
       "(SAFE_INSTALL_TRUST_STORE); 'off' disables"),
    _o("no_trust_store", "--no-trust-store", group="ours", early=True,
       help="same as --trust-store off"),
    _o("version", "-V", "--version", group="ours", help="show the version"),
    _o("help", "-h", "--help", group="ours"),
)

_BY_NAME: dict[str, OptionSpec] = {name: spec for spec in OPTIONS for name in spec.names
                                   if not spec.early}
_LONG_NAMES = sorted(name for name in _BY_NAME if name.startswith("--"))
#: every option by name, the early ones too (what safe-install-tool's commands declare)
_DECLARED: dict[str, OptionSpec] = {name: spec for spec in OPTIONS for name in spec.names}


@dataclass(frozen=True)
class CommandLine:
    """The parsed command line: values by dest, positional requirements, and pass-through args."""

    values: Mapping[str, object]
    requirements: tuple[str, ...]
    passthrough: tuple[str, ...]  # pip arguments handed to the final install unchanged

    def get(self, dest: str, default: object = None) -> object:
        return self.values.get(dest, default)


def _lookup(name: str) -> OptionSpec:
    spec = _BY_NAME.get(name)
    if spec is not None:
        return spec
    if name.startswith("--"):
        # optparse (pip) accepts any unambiguous prefix of a long option
        matches = [n for n in _LONG_NAMES if n.startswith(name)]
        specs = {_BY_NAME[m].dest for m in matches}
        if len(specs) == 1:
            return _BY_NAME[matches[0]]
        # an abbreviation pip itself understands keeps pip's meaning (``--index`` is still
        # --index-url, ``--time`` still --timeout), whatever options of ours share the prefix
        pips = [m for m in matches if _BY_NAME[m].group != "ours"]
        if len(pips) > 0 and len({_BY_NAME[m].dest for m in pips}) == 1:
            return _BY_NAME[pips[0]]
        if len(specs) > 1:
            raise UsageError(
                f"ambiguous option {name!r} (could be {', '.join(matches)})",
                hint="write the option in full",
            )
    raise UsageError(
        f"no such option: {name!r}",
        hint="safe-install takes the options of `pip install`; see `safe-install --help`",
    )


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    """Parse ``pip install`` style arguments (plus ours) without reading any configuration."""
    values: dict[str, object] = {}
    positionals: list[str] = []
    passthrough: list[str] = []

    def store(spec: OptionSpec, value: str | None, written: str) -> None:
        if spec.group == "refused":
            raise UsageError(
                f"{written} is not supported by safe-install yet: {spec.why}",
                hint="safe-install refuses options that would change which files pip selects "
                "rather than check something other than what pip would install",
            )
        if spec.kind == "count":
            values[spec.dest] = int(values.get(spec.dest, 0)) + 1  # type: ignore[call-overload]
        elif spec.kind == "flag":
            values[spec.dest] = True
        elif spec.repeat:
            existing = values.setdefault(spec.dest, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            values[spec.dest] = value
        if spec.group == "passthrough":
            passthrough.append(spec.names[-1] if spec.names[-1].startswith("--") else spec.names[0])
            if value is not None:
                passthrough.append(value)

    i = 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positionals.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            spec = _lookup(name)
            if spec.kind == "value":
                if eq:
                    value = inline
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"option {name} requires a value")
                store(spec, value, name)
            else:
                if eq:
                    raise UsageError(f"option {name} takes no value (got {arg!r})")
                store(spec, None, name)
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                short = "-" + arg[j]
                spec = _lookup(short)
                j += 1
                if spec.kind == "value":
                    if j < len(arg):
                        value = arg[j:]
                    elif i < len(args):
                        value = args[i]
                        i += 1
                    else:
                        raise UsageError(f"option {short} requires a value")
                    store(spec, value, short)
                    break
                store(spec, None, short)
        else:
            positionals.append(arg)
    return CommandLine(values=values, requirements=tuple(positionals),
                       passthrough=tuple(passthrough))




# ---------------------------------------------------------------------------------------------
# help, and argparse declarations for safe-install-tool, from the same table

_USAGE = """\
usage: safe-install [pip install options] [safe-install options] REQUIREMENTS...

Runs `pip install` with the same arguments, after checking every artifact that would be
installed (and every dependency): artifacts added to their release later than --late-after are
refused, and so are artifacts without a trusted hash in hash-checking mode. Then it installs
exactly the checked files, pinned by hash.
"""

_AFTER_OPTIONS = """\
Target: --python, else the active virtual environment (VIRTUAL_ENV), else the interpreter
safe-install runs on. An install that would change safe-install's own dependencies in the
environment it runs from is refused (exit 2): keep it in an environment of its own.

Every `pip install` option is accepted: those that change which file is selected are
implemented by safe-install, the rest are passed to pip, and the few not supported yet are
refused with a message. pip's configuration (files and PIP_* variables) is honoured.

Exit codes: 0 installed (or would install), also with warnings; 1 refused by policy;
2 usage, requirement or resolution error; 3 index or network error; 4 pip failed installing;
5 the report could not be written (the message says whether anything was installed);
70 internal error (a bug; the message says whether anything was installed); 130 Ctrl-C;
141 standard output closed early; 143 SIGTERM.
"""

#: the column where an option's help starts, and the width of the help text
_HELP_COLUMN, _WIDTH = 30, 94


def _option_help(spec: OptionSpec) -> list[str]:
    import textwrap

    names = ", ".join(spec.names) + (f" {spec.metavar}" if spec.metavar else "")
    lines = textwrap.wrap(spec.help, _WIDTH - _HELP_COLUMN)
    head = f"  {names}"
    if len(head) + 2 > _HELP_COLUMN:  # the text starts on the next line
        return [head] + [" " * _HELP_COLUMN + line for line in lines]
    return [head.ljust(_HELP_COLUMN) + lines[0]] + [" " * _HELP_COLUMN + ln for ln in lines[1:]]


def help_text() -> str:
    """``safe-install --help``: what it does, then every option of ours that has a help text,
    in the order of :data:`OPTIONS`."""
    lines = [_USAGE, "safe-install options:"]
    for spec in OPTIONS:
        if spec.group == "ours" and spec.help:
            lines += _option_help(spec)
    return "\n".join(lines) + "\n\n" + _AFTER_OPTIONS


def declare(parser: Any, *names: str, help: str | None = None, **extra: Any) -> None:
    """Declare on an argparse ``parser`` (or argument group) the option ``names`` (some or
    all of the names of one :data:`OPTIONS` entry), taking what it is -- a flag, a count, a
    value, a repeatable value --, its metavar and its help from the table, so that
    safe-install-tool's commands and ``safe-install`` mean the same by it. ``help``: a text
    for this command instead of the table's; ``extra``: more argparse keywords."""
    spec = _BY_NAME[names[0]]
    assert all(_BY_NAME.get(n) is spec for n in names), names
    _add_argument(parser, spec, names, help, extra)


def shared_option(*names: str, dest: str | None = None, **changes: Any) -> OptionSpec:
    """The :data:`OPTIONS` entry of ``names`` as one safe-install-tool command has it: what it
    is (a flag, a count, a value, a repeatable value) stays the table's, so the command and
    ``safe-install`` mean the same by it; ``changes`` (help, metavar, choices, default) are
    the command's. ``dest``: the argparse attribute (default: argparse's, from the names)."""
    spec = _DECLARED[names[0]]
    assert all(_DECLARED.get(n) is spec for n in names), names
    return replace(spec, names=names, dest=dest or _argparse_dest(names), **changes)


def tool_option(*names: str, dest: str | None = None, kind: Kind = "flag",
                repeat: bool = False, metavar: str = "", help: str = "",
                choices: tuple[str, ...] = (), default: object = None,
                convert: Callable[[str], object] | None = None) -> OptionSpec:
    """An option of a safe-install-tool command that ``safe-install`` does not have.
    ``dest``: the argparse attribute (default: argparse's, from the names)."""
    return OptionSpec(dest or _argparse_dest(names), names, kind, "tool", repeat,
                      metavar=metavar, help=help, choices=choices, default=default,
                      convert=convert)


def declare_options(parser: Any, specs: Iterable[OptionSpec]) -> None:
    """Declare a safe-install-tool command's options (:func:`shared_option`,
    :func:`tool_option`) on an argparse ``parser`` or argument group, in order."""
    for spec in specs:
        _add_argument(parser, spec, spec.names, None, {"dest": spec.dest})


def _argparse_dest(names: Sequence[str]) -> str:
    """The attribute argparse derives from option ``names``: the first long one, else the
    first."""
    name = next((n for n in names if n.startswith("--")), names[0])
    return name.lstrip("-").replace("-", "_")


def _add_argument(parser: Any, spec: OptionSpec, names: Sequence[str], help: str | None,
                  extra: Mapping[str, Any]) -> None:
    kwargs: dict[str, Any] = {}
    if help or spec.help:
        kwargs["help"] = spec.help if help is None else help
    if spec.kind == "flag":
        kwargs["action"] = "store_true"
    elif spec.kind == "count":
        kwargs.update(action="count", default=0)
    else:
        if spec.metavar:
            kwargs["metavar"] = spec.metavar
        if spec.choices:
            kwargs["choices"] = spec.choices
        if spec.convert is not None:
            kwargs["type"] = spec.convert
        if spec.repeat:
            kwargs.update(action="append", default=[])
        elif spec.default is not None:
            kwargs["default"] = spec.default
    kwargs.update(extra)
    parser.add_argument(*names, **kwargs)
