"""safeinstall.reqfile: pip 26's requirements-file format, checked line by line.

Behaviours marked "pip:" were checked against pip 26.3 itself (``pip install --dry-run``); the
``TestPipParity`` class re-runs the trickiest of them through the real pip so that a pip upgrade
that changes them fails here.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import string
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeinstall.errors import RequirementError
from safeinstall.reqfile import parse_requirement_files
from safeinstall.reqlines import ParsedRequirements, RequirementFileOptions, RequirementLine

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "pypi"
SHA_A = "a" * 64
SHA_B = "b" * 64


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def parse(
    requirement_files: Sequence[Path | str] = (),
    constraint_files: Sequence[Path | str] = (),
    environ: Mapping[str, str] | None = None,
) -> ParsedRequirements:
    return parse_requirement_files(
        [str(p) for p in requirement_files],
        [str(p) for p in constraint_files],
        environ={} if environ is None else environ,
    )


def texts(content: str, tmp_path: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    result = parse([write(tmp_path, "r.txt", content)], environ=environ)
    return [r.text for r in result.requirements]


def options(content: str, tmp_path: Path) -> RequirementFileOptions:
    return parse([write(tmp_path, "r.txt", content)]).options


def error(content: str, tmp_path: Path, name: str = "r.txt") -> str:
    path = write(tmp_path, name, content)
    with pytest.raises(RequirementError) as info:
        parse([path])
    return str(info.value)


# ------------------------------------------------------------------------------------------
# Lines, comments, whitespace


class TestLines:
    def test_requirement_line_fields(self, tmp_path: Path) -> None:
        path = write(tmp_path, "sub/r.txt", "\n# header\nfoo[x]>=1; python_version < '3.12'\n")
        result = parse([path])
        assert result.requirements == (
            RequirementLine(
                text="foo[x]>=1; python_version < '3.12'",
                source=f"{path}:3",
                base_dir=str(tmp_path / "sub"),
            ),
        )
        assert result.constraints == ()
        assert result.options == RequirementFileOptions()

    def test_source_uses_the_path_as_given(self, tmp_path: Path, monkeypatch) -> None:
        write(tmp_path, "r.txt", "foo\n")
        monkeypatch.chdir(tmp_path)
        (req,) = parse(["r.txt"]).requirements
        assert req.source == "r.txt:1"
        assert req.base_dir == str(tmp_path)

    def test_comments_and_blank_lines(self, tmp_path: Path) -> None:
        content = (
            "# comment\n\n   \nfoo  # trailing comment\n\t# indented comment\nbar#not-a-comment\n"
        )
        assert texts(content, tmp_path) == ["foo", "bar#not-a-comment"]

    def test_url_fragments_are_not_comments(self, tmp_path: Path) -> None:
        content = (
            "https://example.com/pkg-1.0.tar.gz#egg=pkg\n"
            f"pkg @ https://example.com/pkg-1.0-py3-none-any.whl#sha256={SHA_A}  # pinned\n"
            "git+https://example.com/repo.git@v1#egg=repo&subdirectory=sub\n"
        )
        assert texts(content, tmp_path) == [
            "https://example.com/pkg-1.0.tar.gz#egg=pkg",
            f"pkg @ https://example.com/pkg-1.0-py3-none-any.whl#sha256={SHA_A}",
            "git+https://example.com/repo.git@v1#egg=repo&subdirectory=sub",
        ]

    def test_requirement_text_kept_verbatim_and_trailing_whitespace_stripped(
        self, tmp_path: Path
    ) -> None:
        # The requirement part is not shlex-split: quotes in markers survive.
        content = (
            "foo ;  sys_platform == \"linux\" and python_version>='3'   \nbar  --hash=sha256:"
            + SHA_A
        )
        assert texts(content, tmp_path) == [
            "foo ;  sys_platform == \"linux\" and python_version>='3'",
            "bar",
        ]

    def test_paths_and_urls(self, tmp_path: Path) -> None:
        content = "./local/project\n../wheels/foo-1.0-py3-none-any.whl\nfile:///tmp/x.whl\n"
        assert texts(content, tmp_path) == [
            "./local/project",
            "../wheels/foo-1.0-py3-none-any.whl",
            "file:///tmp/x.whl",
        ]

    def test_only_spaces_separate_options(self, tmp_path: Path) -> None:
        # pip: options start at the first *space*-separated token beginning with '-'; a tab does
        # not separate them, so the hash stays in the requirement (and pip rejects it later).
        assert texts(f"foo\t--hash=sha256:{SHA_A}\n", tmp_path) == [f"foo\t--hash=sha256:{SHA_A}"]

    def test_all_unicode_line_boundaries_split_lines(self, tmp_path: Path) -> None:
        # pip splits with str.splitlines(): \r\n, \r, form feed, U+2028 ... all end a line.
        assert texts("a\r\nb\rc\x0cd\u2028e\n", tmp_path) == ["a", "b", "c", "d", "e"]

    def test_library_prints_nothing(self, tmp_path: Path, capsys) -> None:
        parse([write(tmp_path, "r.txt", f"--hash=sha256:{SHA_A}\nfoo\n")])
        assert capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------------------------
# Continuations


class TestContinuations:
    def test_joined_line_takes_the_first_line_number(self, tmp_path: Path) -> None:
        path = write(tmp_path, "r.txt", "a\nfoo\\\n>=1\\\n,<2\nbar\n")
        result = parse([path])
        assert [(r.text, r.source) for r in result.requirements] == [
            ("a", f"{path}:1"),
            ("foo>=1,<2", f"{path}:2"),
            ("bar", f"{path}:5"),
        ]

    def test_continuation_at_end_of_file(self, tmp_path: Path) -> None:
        assert texts("foo\\\n", tmp_path) == ["foo"]
        assert texts("foo \\", tmp_path) == ["foo"]
        assert texts("foo\\\n\\\n", tmp_path) == ["foo"]

    def test_comment_line_ends_a_continuation(self, tmp_path: Path) -> None:
        # pip: "pkg\ / a\ / # comment / pkgb" installs pkga and pkgb.
        assert texts("pkg\\\na\\\n# comment\npkgb\n", tmp_path) == ["pkga", "pkgb"]

    def test_comment_line_ending_in_backslash_does_not_continue(self, tmp_path: Path) -> None:
        assert texts("# comment \\\nfoo\n", tmp_path) == ["foo"]
        assert texts("   # comment \\\nfoo\n", tmp_path) == ["foo"]

    def test_trailing_comment_with_backslash_swallows_the_next_line(self, tmp_path: Path) -> None:
        # pip: "pkgb #c\ / pkga" installs only pkgb.
        assert texts("pkgb #c\\\npkga\nbar\n", tmp_path) == ["pkgb", "bar"]

    def test_all_backslashes_at_both_ends_are_stripped(self, tmp_path: Path) -> None:
        # pip strips with line.strip("\\"): "\pkga\\\" (continued) is "pkga".
        assert texts("\\pkga\\\\\\\n", tmp_path) == ["pkga"]

    def test_pip_compile_hashes_across_lines(self, tmp_path: Path) -> None:
        content = (
            "annotated-types==0.8.0 \\\n"
            f"    --hash=sha256:{SHA_A} \\\n"
            f"    --hash=sha256:{SHA_B.upper()}\n"
            "    # via pydantic\n"
            "certifi==2026.7.22 \\\n"
            f"    --hash=sha512:{'c' * 128}\n"
            "    # via\n"
            "    #   requests\n"
        )
        result = parse([write(tmp_path, "r.txt", content)])
        assert [(r.text, r.hashes) for r in result.requirements] == [
            ("annotated-types==0.8.0", (f"sha256:{SHA_A}", f"sha256:{SHA_B}")),
            ("certifi==2026.7.22", (f"sha512:{'c' * 128}",)),
        ]

    def test_crlf_continuations(self, tmp_path: Path) -> None:
        assert texts(f"foo==1 \\\r\n  --hash=sha256:{SHA_A}\r\nbar\r\n", tmp_path) == [
            "foo==1",
            "bar",
        ]


# ------------------------------------------------------------------------------------------
# Environment variables


class TestEnvironment:
    def test_expansion(self, tmp_path: Path) -> None:
        environ = {"NAME": "foo", "VER_2": "1.0", "lower": "x", "EMPTY": ""}
        content = (
            "${NAME}==${VER_2}\nbar${lower}\nbaz${UNDEFINED}\nqux${EMPTY}\n$NAME\n${NAME}${NAME}\n"
        )
        assert texts(content, tmp_path, environ) == [
            "foo==1.0",
            "bar${lower}",  # lower-case names are never expanded
            "baz${UNDEFINED}",  # undefined: left as written
            "qux${EMPTY}",  # pip: an empty value is not substituted either
            "$NAME",
            "foofoo",
        ]

    def test_os_environ_is_not_read(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("SAFEINSTALL_TEST_VAR", "leaked")
        assert texts("foo${SAFEINSTALL_TEST_VAR}\n", tmp_path) == ["foo${SAFEINSTALL_TEST_VAR}"]

    def test_expansion_happens_after_comment_removal(self, tmp_path: Path) -> None:
        assert texts("foo${C}\n", tmp_path, {"C": " # not a comment"}) == ["foo # not a comment"]

    def test_expanded_values_can_carry_options(self, tmp_path: Path) -> None:
        result = parse(
            [write(tmp_path, "r.txt", "foo ${H}\n")], environ={"H": f"--hash=sha256:{SHA_A}"}
        )
        assert result.requirements[0].hashes == (f"sha256:{SHA_A}",)

    def test_expansion_in_included_path_and_options(self, tmp_path: Path) -> None:
        write(tmp_path, "sub/inner.txt", "inner\n")
        path = write(tmp_path, "r.txt", "-r ${DIR}/inner.txt\n--index-url ${INDEX}/simple\n")
        result = parse([path], environ={"DIR": "sub", "INDEX": "https://user:pw@example.com"})
        assert [r.text for r in result.requirements] == ["inner"]
        assert result.options.index_url == "https://user:pw@example.com/simple"


# ------------------------------------------------------------------------------------------
# Hashes


class TestHashes:
    def test_forms(self, tmp_path: Path) -> None:
        content = (
            f"a --hash=sha256:{SHA_A}\n"
            f"b --hash sha256:{SHA_A} --hash=sha384:{'d' * 96}\n"
            f"c --hash=sha512:{'E' * 128}\n"
            f"d --has=sha256:{SHA_A}\n"  # unambiguous abbreviation, as optparse allows
        )
        result = parse([write(tmp_path, "r.txt", content)])
        assert [r.hashes for r in result.requirements] == [
            (f"sha256:{SHA_A}",),
            (f"sha256:{SHA_A}", f"sha384:{'d' * 96}"),
            (f"sha512:{'e' * 128}",),
            (f"sha256:{SHA_A}",),
        ]

    def test_repeated_hash_kept_once(self, tmp_path: Path) -> None:
        result = parse(
            [write(tmp_path, "r.txt", f"a --hash=sha256:{SHA_A} --hash=sha256:{SHA_A}\n")]
        )
        assert result.requirements[0].hashes == (f"sha256:{SHA_A}",)

    def test_hash_without_requirement_is_ignored(self, tmp_path: Path) -> None:
        # pip warns "has --hash but no requirement, and will be ignored".
        result = parse([write(tmp_path, "r.txt", f"--hash=sha256:{SHA_A}\nfoo\n")])
        assert [(r.text, r.hashes) for r in result.requirements] == [("foo", ())]

    def test_hash_on_editable_line_is_ignored(self, tmp_path: Path) -> None:
        result = parse([write(tmp_path, "r.txt", f"-e ./proj --hash=sha256:{SHA_A}\n")])
        assert result.requirements[0].hashes == ()
        assert result.requirements[0].editable

    def test_hash_after_double_dash_is_ignored(self, tmp_path: Path) -> None:
        # pip: "pkga -- --hash=sha256:<wrong>" installs pkga: '--' ends the options.
        result = parse([write(tmp_path, "r.txt", f"foo -- --hash=sha256:{SHA_A}\n")])
        assert [(r.text, r.hashes) for r in result.requirements] == [("foo", ())]

    def test_long_line_is_shortened_in_messages(self, tmp_path: Path) -> None:
        hashes = " ".join(f"--hash=sha256:{SHA_A}" for _ in range(20))
        message = error(f"foo==1 {hashes} --hash=md5:00\n", tmp_path)
        assert "..." in message and len(message.splitlines()[0]) < 400
        assert "Allowed hash algorithms" in message

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("foo --hash=sha256", "must be a hash name followed by a value"),
            ("foo --hash", "--hash option requires 1 argument"),
            (f"foo --hash=md5:{SHA_A}", "Allowed hash algorithms for --hash are sha256, sha384"),
            (f"foo --hash=SHA256:{SHA_A}", "Allowed hash algorithms"),
            ("foo --hash=sha256:", "expected 64 hexadecimal characters"),
            ("foo --hash=sha256:abc", "expected 64 hexadecimal characters"),
            (f"foo --hash=sha256:{'g' * 64}", "expected 64 hexadecimal characters"),
            (f"foo --hash=sha512:{SHA_A}", "expected 128 hexadecimal characters"),
            (f"--hash=md5:{SHA_A}", "Allowed hash algorithms"),  # checked on option lines too
        ],
    )
    def test_malformed(self, tmp_path: Path, line: str, expected: str) -> None:
        message = error(f"ok\n{line}\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: ")
        assert expected in message


# ------------------------------------------------------------------------------------------
# Editables


class TestEditables:
    def test_forms(self, tmp_path: Path) -> None:
        content = (
            "-e ./proj[extra]\n"
            "--editable=git+https://example.com/r.git#egg=r\n"
            "-e'./my dir'\n"
            "--edit ./abbrev\n"
            "-e ./first -e ./second\n"
        )
        result = parse([write(tmp_path, "r.txt", content)])
        assert [(r.text, r.editable) for r in result.requirements] == [
            ("./proj[extra]", True),
            ("git+https://example.com/r.git#egg=r", True),
            ("./my dir", True),
            ("./abbrev", True),
            ("./first", True),  # pip uses only the first -e of a line
        ]

    def test_requirement_before_e_is_the_editable(self, tmp_path: Path) -> None:
        # pip: "pkga -e pkgb" -> "pkga is not a valid editable requirement".
        result = parse([write(tmp_path, "r.txt", "foo -e bar\n")])
        assert [(r.text, r.editable) for r in result.requirements] == [("foo", True)]

    def test_editable_in_constraints_is_refused(self, tmp_path: Path) -> None:
        write(tmp_path, "c.txt", "ok\n-e ./proj\n")
        with pytest.raises(
            RequirementError, match=r"c\.txt:2: Editable requirements are not allowed"
        ):
            parse(constraint_files=[tmp_path / "c.txt"])


# ------------------------------------------------------------------------------------------
# -r / -c


class TestIncludes:
    def test_nested_relative_paths(self, tmp_path: Path) -> None:
        write(tmp_path, "top.txt", "top\n-r sub/a.txt\n-c sub/c.txt\nlast\n")
        write(tmp_path, "sub/a.txt", "a\n-r ../b.txt\n-r deeper/d.txt\n")
        write(tmp_path, "b.txt", "b\n")
        write(tmp_path, "sub/deeper/d.txt", "d\n")
        write(tmp_path, "sub/c.txt", "c==1\n--constraint=../c2.txt\n")
        write(tmp_path, "c2.txt", "c2==2\n")
        result = parse([tmp_path / "top.txt"])
        assert [r.text for r in result.requirements] == ["top", "a", "b", "d", "last"]
        assert [r.text for r in result.constraints] == ["c==1", "c2==2"]
        assert all(r.constraint for r in result.constraints)
        assert not any(r.constraint for r in result.requirements)
        by_text = {r.text: r for r in result.requirements + result.constraints}
        assert by_text["top"].source == f"{tmp_path / 'top.txt'}:1"
        assert by_text["d"].source == f"{tmp_path / 'sub/deeper/d.txt'}:1"
        assert by_text["d"].base_dir == str(tmp_path / "sub/deeper")
        assert by_text["c2==2"].base_dir == str(tmp_path)

    def test_relative_include_from_relative_top_level(self, tmp_path: Path, monkeypatch) -> None:
        write(tmp_path, "dir/top.txt", "-r inner.txt\n")
        write(tmp_path, "dir/inner.txt", "x\n")
        monkeypatch.chdir(tmp_path)
        (req,) = parse(["dir/top.txt"]).requirements
        assert req.source == f"{tmp_path / 'dir/inner.txt'}:1"

    def test_requirement_file_inside_constraints_file_gives_requirements(
        self, tmp_path: Path
    ) -> None:
        # pip: a -r inside a -c file includes *requirements* (pip installs them).
        write(tmp_path, "c.txt", "-r r.txt\nconstrained==1\n")
        write(tmp_path, "r.txt", "pkga\n")
        result = parse([write(tmp_path, "main.txt", "main\n")], [tmp_path / "c.txt"])
        assert [(r.text, r.constraint) for r in result.requirements] == [
            ("pkga", False),
            ("main", False),
        ]
        assert [(r.text, r.constraint) for r in result.constraints] == [("constrained==1", True)]

    def test_constraints_file_inside_constraints_file(self, tmp_path: Path) -> None:
        write(tmp_path, "c.txt", "-c c2.txt\n")
        write(tmp_path, "c2.txt", "x==1\n")
        result = parse(constraint_files=[tmp_path / "c.txt"])
        assert [(r.text, r.constraint) for r in result.constraints] == [("x==1", True)]

    def test_same_file_twice_is_read_twice(self, tmp_path: Path) -> None:
        write(tmp_path, "b.txt", "b\n")
        write(tmp_path, "a.txt", "-r b.txt\n")
        path = write(tmp_path, "r.txt", "-r b.txt\n-r a.txt\n-r ./b.txt\n")
        assert [r.text for r in parse([path]).requirements] == ["b", "b", "b"]

    def test_self_include_is_an_error(self, tmp_path: Path) -> None:
        message = error("ok\n-r r.txt\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: ")
        assert (
            f"{tmp_path / 'r.txt'} recursively references itself in {tmp_path / 'r.txt'}" in message
        )

    def test_indirect_cycle_is_an_error(self, tmp_path: Path) -> None:
        write(tmp_path, "a.txt", "-r sub/b.txt\n")
        write(tmp_path, "sub/b.txt", "\n\n-c ../a.txt\n")
        with pytest.raises(RequirementError) as info:
            parse([tmp_path / "a.txt"])
        b = tmp_path / "sub/b.txt"
        assert str(info.value).startswith(f"{b}:3: {tmp_path / 'a.txt'} recursively references")

    def test_cycle_through_a_constraints_file(self, tmp_path: Path) -> None:
        write(tmp_path, "c.txt", "-r r.txt\n")
        write(tmp_path, "r.txt", "-c c.txt\n")
        with pytest.raises(RequirementError, match="recursively references itself"):
            parse(constraint_files=[tmp_path / "c.txt"])

    def test_deep_nesting_is_bounded(self, tmp_path: Path) -> None:
        for level in range(150):
            write(tmp_path, f"f{level}.txt", f"-r f{level + 1}.txt\n")
        write(tmp_path, "f150.txt", "x\n")
        with pytest.raises(RequirementError, match="nested more than 100 levels"):
            parse([tmp_path / "f0.txt"])
        assert [r.text for r in parse([tmp_path / "f60.txt"]).requirements] == ["x"]

    def test_symlink_loop_ends_with_an_error(self, tmp_path: Path) -> None:
        (tmp_path / "d").symlink_to(".")
        with pytest.raises(RequirementError, match="could not open requirements file"):
            parse([write(tmp_path, "a.txt", "-r d/a.txt\n")])

    def test_only_first_include_of_a_line_and_r_beats_c(self, tmp_path: Path) -> None:
        # pip: "-r b.txt -r c.txt" reads only b.txt; "-c c.txt -r b.txt" reads only b.txt.
        write(tmp_path, "b.txt", "b\n")
        write(tmp_path, "c.txt", "c\n")
        path = write(tmp_path, "r.txt", "-r b.txt -r c.txt\n-c c.txt -r b.txt\n")
        result = parse([path])
        assert [r.text for r in result.requirements] == ["b", "b"]
        assert result.constraints == ()

    def test_include_on_a_requirement_line_is_ignored(self, tmp_path: Path) -> None:
        # pip: "pkga -r c.txt" installs only pkga.
        path = write(tmp_path, "r.txt", "foo -r missing.txt\n")
        assert [r.text for r in parse([path]).requirements] == ["foo"]

    def test_other_options_on_an_include_line_are_ignored(self, tmp_path: Path) -> None:
        write(tmp_path, "b.txt", "b\n")
        path = write(tmp_path, "r.txt", "-r b.txt --index-url https://x.example --pre\n")
        assert parse([path]).options == RequirementFileOptions()

    @pytest.mark.parametrize(
        "line", ["-rb.txt", "--requirement=b.txt", "--requirement b.txt", "--requirem b.txt"]
    )
    def test_include_spellings(self, tmp_path: Path, line: str) -> None:
        write(tmp_path, "b.txt", "b\n")
        assert [r.text for r in parse([write(tmp_path, "r.txt", line)]).requirements] == ["b"]

    def test_missing_included_file(self, tmp_path: Path) -> None:
        message = error("\n-c missing.txt\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: could not open constraints file ")
        assert str(tmp_path / "missing.txt") in message

    def test_included_directory(self, tmp_path: Path) -> None:
        (tmp_path / "d").mkdir()
        assert "could not open requirements file" in error("-r d\n", tmp_path)

    def test_included_file_with_bom(self, tmp_path: Path) -> None:
        write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b"pkga\n")
        assert texts("-r bom.txt\n", tmp_path) == ["pkga"]

    @pytest.mark.parametrize(
        "target",
        ["https://example.com/r.txt", "http://example.com/r.txt", "HTTPS://example.com/r.txt"],
    )
    def test_remote_include_refused(self, tmp_path: Path, target: str) -> None:
        message = error(f"ok\n-r {target}\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: remote requirements file {target}")
        assert "not supported by safe-install yet" in message
        assert "download" in message

    def test_file_url_include_refused(self, tmp_path: Path) -> None:
        message = error(f"-c file://{tmp_path}/c.txt\n", tmp_path)
        assert "not supported by safe-install yet" in message and "local path" in message


# ------------------------------------------------------------------------------------------
# Global options


class TestOptions:
    def test_all_global_options(self, tmp_path: Path) -> None:
        (tmp_path / "wheels").mkdir()
        content = (
            "--index-url https://index.example/simple\n"
            "--extra-index-url=https://u:p@extra1.example/simple\n"
            "--extra-index-url https://extra2.example/simple\n"
            "-f wheels\n"
            "--find-links=https://links.example/\n"
            "--trusted-host extra1.example --trusted-host=[::1]:8080\n"
            "--pre\n"
            "--prefer-binary\n"
            "--require-hashes\n"
            "--only-binary :all:\n"
            "--no-binary=a,b\n"
            "--only-binary=:none:\n"
            "--use-feature fast-deps\n"
            "foo\n"
        )
        result = parse([write(tmp_path, "r.txt", content)])
        assert [r.text for r in result.requirements] == ["foo"]
        assert result.options == RequirementFileOptions(
            index_url="https://index.example/simple",
            extra_index_urls=("https://u:p@extra1.example/simple", "https://extra2.example/simple"),
            no_index=False,
            find_links=(str(tmp_path / "wheels"), "https://links.example/"),
            trusted_hosts=("extra1.example", "[::1]:8080"),
            pre=True,
            prefer_binary=True,
            require_hashes=True,
            only_binary=(":all:", ":none:"),
            no_binary=("a,b",),
            use_feature=("fast-deps",),
        )

    @pytest.mark.parametrize(
        "line", ["-i U", "-iU", "--index-url=U", "--index-url U", "--pypi-url U", "--ind U"]
    )
    def test_index_url_spellings(self, tmp_path: Path, line: str) -> None:
        assert options(line + "\n", tmp_path).index_url == "U"

    def test_several_options_on_one_line(self, tmp_path: Path) -> None:
        result = options("--pre --extra-index-url E --prefer-binary -i I\n", tmp_path)
        assert (result.index_url, result.extra_index_urls) == ("I", ("E",))
        assert result.pre and result.prefer_binary

    def test_index_url_replaces_earlier_extra_index_urls(self, tmp_path: Path) -> None:
        # pip: "--extra-index-url 1 / -i 2 / --extra-index-url 3" looks in 2, 3.
        result = options(
            "--extra-index-url E1\n-i I\n--extra-index-url E3\n-i J\n--extra-index-url E4\n",
            tmp_path,
        )
        assert (result.index_url, result.extra_index_urls) == ("J", ("E4",))

    def test_empty_index_url_is_ignored(self, tmp_path: Path) -> None:
        result = options("--extra-index-url E\n--index-url=\n", tmp_path)
        assert (result.index_url, result.extra_index_urls) == (None, ("E",))

    def test_no_index_wins(self, tmp_path: Path) -> None:
        result = options("--extra-index-url E\n--no-index\n-i I\n--extra-index-url F\n", tmp_path)
        assert (result.index_url, result.extra_index_urls, result.no_index) == (None, (), True)

    def test_find_links_resolution(self, tmp_path: Path, monkeypatch) -> None:
        # pip: joined to the requirement file's directory when that exists, else kept as is;
        # only the first -f of a line counts.
        write(tmp_path, "sub/wheels/x", "")
        write(tmp_path, "sub/r.txt", "-f wheels -f ignored\n-f nothere\n-f /abs/path\n")
        monkeypatch.chdir(tmp_path)
        result = parse(["sub/r.txt"])
        assert result.options.find_links == (str(tmp_path / "sub/wheels"), "nothere", "/abs/path")

    def test_requirement_lines_do_not_set_global_options(self, tmp_path: Path) -> None:
        # pip: "pkgc --pre" installs pkgc 1.0, "--pre / pkgc" installs 2.0b1.
        result = options(
            "foo --pre --prefer-binary --require-hashes --index-url I --extra-index-url E "
            "-f F --trusted-host T --no-index\n",
            tmp_path,
        )
        assert result == RequirementFileOptions()

    def test_format_control_applies_from_every_line(self, tmp_path: Path) -> None:
        # pip: "pkgc==1.0 --no-binary :all:" fails when only wheels exist.
        write(tmp_path, "b.txt", "")
        result = options("foo --no-binary :all:\n-r b.txt --only-binary x\n", tmp_path)
        assert (result.no_binary, result.only_binary) == ((":all:",), ("x",))

    def test_use_feature_applies_from_every_line_once(self, tmp_path: Path) -> None:
        # pip: "pkga --use-feature=fast-deps" enables fast-deps (shared option default list).
        result = options(
            "foo --use-feature=fast-deps\n--use-feature fast-deps\n--use-feature=truststore\n",
            tmp_path,
        )
        assert result.use_feature == ("fast-deps", "truststore")

    def test_positional_words_among_options_are_ignored(self, tmp_path: Path) -> None:
        # pip: "--pre pkgc" installs nothing and still turns on --pre.
        result = parse([write(tmp_path, "r.txt", "--pre pkgc\n")])
        assert result.requirements == ()
        assert result.options.pre

    def test_quoted_option_values(self, tmp_path: Path) -> None:
        assert (
            options("--index-url 'https://x.example/a b'\n", tmp_path).index_url
            == "https://x.example/a b"
        )

    def test_constraint_files_are_read_first(self, tmp_path: Path) -> None:
        c = write(tmp_path, "c.txt", "--index-url FROM_C\n--extra-index-url EC\n")
        r = write(tmp_path, "r.txt", "--extra-index-url ER\n")
        result = parse([r], [c])
        assert (result.options.index_url, result.options.extra_index_urls) == (
            "FROM_C",
            ("EC", "ER"),
        )

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("--no-binary -x", "--no-binary / --only-binary option requires 1 argument."),
            (
                "--use-feature=foo",
                "option --use-feature: invalid choice: 'foo' (choose from 'fast-deps'",
            ),
            ("--trusted-host ''", "invalid --trusted-host value ''"),
            ("--trusted-host :80", "invalid --trusted-host value ':80'"),
            ("--trusted-host h:99999", "invalid --trusted-host value 'h:99999'"),
        ],
    )
    def test_invalid_option_values(self, tmp_path: Path, line: str, expected: str) -> None:
        message = error(f"\n{line}\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: ")
        assert expected in message


# ------------------------------------------------------------------------------------------
# Unsupported and unknown options


class TestUnsupportedOptions:
    @pytest.mark.parametrize(
        ("line", "option"),
        [
            ("foo --config-settings=key=value", "--config-settings"),
            ("foo -C key=value", "-C"),
            ("foo --config key=value", "--config-settings"),
            ("-e ./proj --config-settings key=value", "--config-settings"),
            ("--no-require-hashes", "--no-require-hashes"),
            ("--all-releases :all:", "--all-releases"),
            ("--only-final=foo", "--only-final"),
        ],
    )
    def test_accepted_by_pip_but_not_supported(
        self, tmp_path: Path, line: str, option: str
    ) -> None:
        message = error(f"ok\n{line}\n", tmp_path)
        assert message.startswith(
            f"{tmp_path / 'r.txt'}:2: {option} is not supported by safe-install yet; "
        )

    @pytest.mark.parametrize(
        ("line", "option"),
        [
            ("foo --global-option=--x", "--global-option"),
            ("foo --install-option --x", "--install-option"),
            ("foo --build-option=x", "--build-option"),
            ("-Z", "-Z"),
            ("-Zx", "-Z"),
            ("--always-unzip", "--always-unzip"),
            ("--use-pep517", "--use-pep517"),
            ("--no-use-pep517", "--no-use-pep517"),
        ],
    )
    def test_legacy_options(self, tmp_path: Path, line: str, option: str) -> None:
        # pip 26 itself rejects these ("no such option"); we say so, more helpfully.
        message = error(f"ok\n{line}\n", tmp_path)
        assert message.startswith(
            f"{tmp_path / 'r.txt'}:2: {option} is not supported by safe-install yet"
        )
        assert "no such option" in message

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("--frobnicate", "no such option: --frobnicate"),
            ("foo -x", "no such option: -x"),
            ("--no", "ambiguous option: --no (--no-binary, --no-index, --no-require-hashes?)"),
            ("--e x", "ambiguous option: --e (--editable, --extra-index-url?)"),
            ("--pr", "ambiguous option: --pr (--pre, --prefer-binary?)"),
            ("--req b.txt", "ambiguous option: --req (--require-hashes, --requirement?)"),
            ("--pre=1", "--pre option does not take a value"),
            ("-i", "-i option requires 1 argument"),
            ("--ind", "--index-url option requires 1 argument"),
            ("--index-url 'unbalanced", "could not split options"),
        ],
    )
    def test_bad_options(self, tmp_path: Path, line: str, expected: str) -> None:
        message = error(f"ok\n{line}\n", tmp_path)
        assert message.startswith(f"{tmp_path / 'r.txt'}:2: invalid line {line!r}: ")
        assert expected in message


# ------------------------------------------------------------------------------------------
# Top-level files and decoding


class TestFiles:
    def test_missing_top_level_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.txt"
        with pytest.raises(
            RequirementError, match=rf"^{re.escape(str(missing))}: could not open requirements file"
        ):
            parse([missing])
        with pytest.raises(RequirementError, match="could not open constraints file"):
            parse(constraint_files=[missing])

    @pytest.mark.parametrize(
        "url", ["https://example.com/r.txt", "http://x/r.txt", "file:///tmp/r.txt"]
    )
    def test_remote_top_level_refused(self, url: str) -> None:
        with pytest.raises(RequirementError, match="remote requirements files are not supported"):
            parse([url])

    @pytest.mark.parametrize("name", ["pylock.toml", "pylock.dev.toml", "pylock.toml[extra]"])
    def test_pylock_refused(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(RequirementError, match="pylock.toml lock files are not supported"):
            parse([tmp_path / name])

    def test_pylock_name_as_constraints_is_a_plain_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "pylock.toml", "x==1\n")
        assert [r.text for r in parse(constraint_files=[path]).constraints] == ["x==1"]

    @pytest.mark.parametrize(
        ("bom", "encoding"),
        [
            (codecs.BOM_UTF8, "utf-8"),
            (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"),
            (codecs.BOM_UTF32_BE, "utf-32-be"),
        ],
    )
    def test_byte_order_marks(self, tmp_path: Path, bom: bytes, encoding: str) -> None:
        path = write(tmp_path, "r.txt", bom + "héllo==1\n# ç\nbar\n".encode(encoding))
        assert [r.text for r in parse([path]).requirements] == ["héllo==1", "bar"]

    def test_pep263_declaration(self, tmp_path: Path) -> None:
        data = "# -*- coding: latin-1 -*-\nfoo ; python_version > '3' # é\ncafé\n".encode("latin-1")
        assert texts_bytes(tmp_path, data) == ["foo ; python_version > '3'", "café"]

    def test_undecodable_bytes(self, tmp_path: Path) -> None:
        path = write(tmp_path, "r.txt", b"ok\nfoo # \xe9\n")
        with pytest.raises(RequirementError) as info:
            parse([path])
        assert str(info.value).startswith(f"{path}:2: cannot decode the file as utf-8")
        assert "coding" in str(info.value)  # the hint says how to declare an encoding

    def test_unknown_declared_encoding(self, tmp_path: Path) -> None:
        path = write(tmp_path, "r.txt", b"# coding: no-such-codec\nfoo\n")
        with pytest.raises(RequirementError, match="unknown encoding 'no-such-codec'"):
            parse([path])

    def test_nothing_given(self) -> None:
        assert parse() == ParsedRequirements((), (), RequirementFileOptions())


def texts_bytes(tmp_path: Path, data: bytes) -> list[str]:
    return [r.text for r in parse([write(tmp_path, "r.txt", data)]).requirements]


# ------------------------------------------------------------------------------------------
# The real-world corpus (tests/data/corpus/pypi, sources in its README)


class TestCorpus:
    def test_hashes_sigstore(self) -> None:
        result = parse([CORPUS / "hashes-sigstore.txt"])
        assert len(result.requirements) == 32
        assert sum(len(r.hashes) for r in result.requirements) == 426
        assert all(
            r.hashes and all(h.startswith("sha256:") for h in r.hashes) for r in result.requirements
        )
        assert result.requirements[0].text == "annotated-types==0.8.0"
        assert result.constraints == ()
        assert result.options == RequirementFileOptions()

    def test_airflow_constrained(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.chdir(tmp_path)  # the -c is relative to the file, not to the cwd
        result = parse([CORPUS / "airflow-constrained.txt"])
        assert [r.text for r in result.requirements] == ["apache-airflow[postgres,google]==2.9.2"]
        assert len(result.constraints) == 712
        assert all(r.constraint and not r.hashes for r in result.constraints)
        assert result.constraints[0].source == f"{CORPUS / 'airflow-constraints-3.11.txt'}:35"

    def test_fastapi_dispatch(self) -> None:
        result = parse([CORPUS / "fastapi-dispatch.txt"])
        assert len(result.requirements) == 169
        assert sum(len(r.hashes) for r in result.requirements) == 0
        assert result.options.index_url is None  # the --index-url line is commented out
        assert "spacy==3.8.5" in {r.text for r in result.requirements}

    def test_whole_corpus_parses(self) -> None:
        for path in sorted(CORPUS.glob("*.txt")):
            result = parse([path])
            assert result.requirements, path


# ------------------------------------------------------------------------------------------
# Properties

_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,10}[A-Za-z0-9]", fullmatch=True)
_REQUIREMENTS = st.one_of(
    _NAMES,
    st.builds(
        lambda n, v: f"{n}=={v}",
        _NAMES,
        st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}", fullmatch=True),
    ),
    st.builds(lambda n, e: f"{n}[{e}]>=1.0,<3", _NAMES, _NAMES),
    st.builds(
        lambda n, m: f"{n} ; {m}",
        _NAMES,
        st.sampled_from(
            [
                "python_version < '3.12'",
                'sys_platform == "linux"',
                "platform_machine != 'arm64' and implementation_name == \"cpython\"",
            ]
        ),
    ),
    st.builds(lambda n: f"{n} @ https://example.com/{n}-1.0.tar.gz#sha256={SHA_A}", _NAMES),
    st.builds(lambda n: f"./{n}/sub", _NAMES),
)
_COMMENT_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    max_size=20,
).filter(lambda text: not text.endswith("\\"))


@st.composite
def _requirement_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    reqs = draw(st.lists(_REQUIREMENTS, max_size=8))
    out: list[str] = []
    for req in reqs:
        for _ in range(draw(st.integers(0, 2))):
            out.append(
                draw(st.sampled_from(["", "   ", "\t"]))
                + draw(st.sampled_from(["", "# " + draw(_COMMENT_TEXT)]))
            )
        line = req
        # continuations anywhere except right before a '#' (that would start a comment line)
        cuts = sorted(draw(st.sets(st.integers(0, len(req)), max_size=3)))
        cuts = [c for c in cuts if not req[c:].startswith("#")]
        if cuts:
            pieces = [req[a:b] for a, b in zip([0, *cuts], [*cuts, len(req)], strict=True)]
            line = "\\\n".join(pieces)
        line += draw(st.sampled_from(["", "  ", "\t", " # " + draw(_COMMENT_TEXT)]))
        out.append(line)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(out) + draw(st.sampled_from(["", newline])), reqs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requirement_file())
def test_property_requirement_texts_round_trip(case: tuple[str, list[str]]) -> None:
    content, expected = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "r.txt", content)
        result = parse([path])
    assert [r.text for r in result.requirements] == expected
    assert result.options == RequirementFileOptions()


_HEX = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(_NAMES, st.lists(_HEX, min_size=1, max_size=4, unique_by=str.lower)), max_size=5
    )
)
def test_property_pip_compile_hashes_round_trip(entries: list[tuple[str, list[str]]]) -> None:
    lines = []
    for name, digests in entries:
        lines.append(f"{name}==1.0 \\")
        lines.extend(f"    --hash=sha256:{d} \\" for d in digests[:-1])
        lines.append(f"    --hash=sha256:{digests[-1]}")
        lines.append("    # via something")
    with tempfile.TemporaryDirectory() as tmp:
        result = parse([write(Path(tmp), "r.txt", "\n".join(lines) + "\n")])
    assert [(r.text, r.hashes) for r in result.requirements] == [
        (f"{name}==1.0", tuple(f"sha256:{d.lower()}" for d in digests)) for name, digests in entries
    ]


# No '/': random text must not make the parser open files outside the temporary directory.
_TOKENS = st.sampled_from(
    [
        *string.ascii_letters[:6],
        *" \t=#\\-:;${}\"'_.[],<>@",
        "\n",
        "\r\n",
        "\x0c",
        "${A}",
        "-r",
        "-c",
        "-e",
        "-i",
        "-f",
        "--hash=",
        "sha256:",
        SHA_A,
        "--pre",
        "--no",
        "--only-binary",
        ":all:",
        "--extra-index-url",
        "--no-index",
        " # ",
        "--trusted-host",
        "--use-feature",
        "fast-deps",
        "n.txt",
        "m.txt",
        "--",
        "-C",
        "\\\n",
        "é",
        "\u2028",
        "\x00",
    ]
)
_ARBITRARY = st.one_of(st.text(max_size=60), st.lists(_TOKENS, max_size=40).map("".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    main=_ARBITRARY.filter(lambda s: "/" not in s),
    nested=_ARBITRARY.filter(lambda s: "/" not in s),
    environ=st.dictionaries(
        st.sampled_from(["A", "B"]),
        st.sampled_from(["", "x", " --pre", "n.txt", " # c", "-rm.txt"]),
    ),
    as_constraints=st.booleans(),
)
def test_property_only_requirement_errors(
    main: str, nested: str, environ: dict[str, str], as_constraints: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write(base, "n.txt", nested)
        write(base, "m.txt", main)
        path = write(base, "r.txt", main)
        try:
            result = parse(
                [] if as_constraints else [path], [path] if as_constraints else [], environ
            )
        except RequirementError as exc:
            assert re.match(r"^\S.*?: ", str(exc))
        else:
            for req in result.requirements + result.constraints:
                assert req.text == req.text.rstrip()
                assert re.fullmatch(r".+:\d+", req.source)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_property_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "r.txt", data.replace(b"/", b""))
        with contextlib.suppress(RequirementError):
            parse([path])


# ------------------------------------------------------------------------------------------
# Parity with the real pip (local wheels only, no network)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.artifacts import build_wheel

    out = tmp_path_factory.mktemp("wheels")
    for name, version in [("pkga", "1.0"), ("pkgb", "1.0"), ("pkgc", "1.0"), ("pkgc", "2.0b1")]:
        build_wheel(out, name, version)
    return out


class TestPipParity:
    """Run pip 26 on the same files: if pip changes one of these behaviours, this fails."""

    @staticmethod
    def pip(
        wheels: Path, reqfile: Path, env: Mapping[str, str] | None = None
    ) -> dict[str, str] | str:
        """What pip would install ({name: version}), or its error output."""
        import json

        from support.piprun import clean_pip_environ, run_pip

        environ = clean_pip_environ()
        environ.update(env or {})
        report = reqfile.parent / "report.json"
        result = run_pip(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-index",
                "--find-links",
                str(wheels),
                "--report",
                str(report),
                "--quiet",
                "-r",
                str(reqfile),
            ],
            environ,
            check=False,
            cwd=reqfile.parent,
        )
        if result.returncode != 0:
            return result.stdout + result.stderr
        data = json.loads(report.read_text(encoding="utf-8"))
        return {item["metadata"]["name"]: item["metadata"]["version"] for item in data["install"]}

    def test_requirements_inside_constraints_file(self, tmp_path: Path, wheels: Path) -> None:
        write(tmp_path, "r.txt", "pkga\n")
        write(tmp_path, "c.txt", "-r r.txt\npkgb==1.0\n")
        main = write(tmp_path, "main.txt", "-c c.txt\npkgc==1.0\n")
        assert self.pip(wheels, main) == {"pkga": "1.0", "pkgc": "1.0"}
        result = parse([main])
        assert {r.text for r in result.requirements} == {"pkga", "pkgc==1.0"}
        assert [r.text for r in result.constraints] == ["pkgb==1.0"]

    def test_first_include_only_and_include_ignored_on_requirement_line(
        self, tmp_path: Path, wheels: Path
    ) -> None:
        write(tmp_path, "b.txt", "pkgb\n")
        write(tmp_path, "c.txt", "pkgc==1.0\n")
        main = write(tmp_path, "main.txt", "-r b.txt -r c.txt\npkga -r c.txt\n")
        assert self.pip(wheels, main) == {"pkga": "1.0", "pkgb": "1.0"}
        assert [r.text for r in parse([main]).requirements] == ["pkgb", "pkga"]

    def test_pre_only_on_option_lines(self, tmp_path: Path, wheels: Path) -> None:
        on_requirement = write(tmp_path, "a.txt", "pkgc --pre\n")
        on_own_line = write(tmp_path, "b.txt", "--pre\npkgc\n")
        assert self.pip(wheels, on_requirement) == {"pkgc": "1.0"}
        assert self.pip(wheels, on_own_line) == {"pkgc": "2.0b1"}
        assert not parse([on_requirement]).options.pre
        assert parse([on_own_line]).options.pre

    def test_no_binary_on_requirement_line_applies(self, tmp_path: Path, wheels: Path) -> None:
        path = write(tmp_path, "r.txt", "pkga --no-binary :all:\n")
        assert "No matching distribution found for pkga" in str(self.pip(wheels, path))
        assert parse([path]).options.no_binary == (":all:",)

    def test_uppercase_hash(self, tmp_path: Path, wheels: Path) -> None:
        import hashlib

        digest = hashlib.sha256((wheels / "pkga-1.0-py3-none-any.whl").read_bytes()).hexdigest()
        path = write(tmp_path, "r.txt", f"pkga==1.0 \\\n    --hash=sha256:{digest.upper()}\n")
        assert self.pip(wheels, path) == {"pkga": "1.0"}
        assert [r.hashes for r in parse([path]).requirements] == [(f"sha256:{digest}",)]

    def test_hash_after_double_dash_ignored(self, tmp_path: Path, wheels: Path) -> None:
        path = write(tmp_path, "r.txt", f"pkgb -- --hash=sha256:{SHA_A}\n")
        assert self.pip(wheels, path) == {"pkgb": "1.0"}
        assert [r.hashes for r in parse([path]).requirements] == [()]

    def test_comments_continuations_and_env(self, tmp_path: Path, wheels: Path) -> None:
        content = "pk${G}\\\na #c\\\npkgc\n# x \\\npkgb ; python_version > '3' # c\n"
        path = write(tmp_path, "r.txt", content)
        assert self.pip(wheels, path, {"G": "g"}) == {"pkga": "1.0", "pkgb": "1.0"}
        assert [r.text for r in parse([path], environ={"G": "g"}).requirements] == [
            "pkga",
            "pkgb ; python_version > '3'",
        ]

    @pytest.mark.parametrize(
        "content",
        [
            "-r r.txt\n",
            "pkga --global-option=x\n",
            "--use-pep517\npkga\n",
            "pkga --hash=md5:00\n",
            "--no\n",
        ],
    )
    def test_both_refuse(self, tmp_path: Path, wheels: Path, content: str) -> None:
        path = write(tmp_path, "r.txt", content)
        assert isinstance(self.pip(wheels, path), str)
        with pytest.raises(RequirementError):
            parse([path])


def test_module_does_not_import_pip_internals() -> None:
    source = Path(__file__).resolve().parents[1] / "src" / "safeinstall" / "reqfile.py"
    imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", source.read_text(encoding="utf-8"), re.M)
    assert not [name for name in imports if name.split(".")[0] == "pip"]


def test_line_parser_does_not_import_pip_internals() -> None:
    source = Path(__file__).resolve().parents[1] / "src" / "safeinstall" / "reqlines.py"
    imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", source.read_text(encoding="utf-8"), re.M)
    assert not [name for name in imports if name.split(".")[0] == "pip"]
