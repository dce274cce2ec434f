"""The resolver ranks candidates lazily, release by release from the highest (``iter_ranked``),
so that it parses the files of one or two releases instead of every file a project ever
uploaded. That is only allowed if the answer is exactly pip's order, which
``order_candidates`` computes eagerly over every file (and which the parity tests compare with
pip itself). These properties check the two against each other on generated listings:
pre-releases, yanked files, incompatible tags, Requires-Python, the pre-release fallback and
duplicated copies across two sources."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from safeinstall.indexdata import _guess_version, filename_in_url
from safeinstall.listing import ProjectListing
from safeinstall.models import Source
from safeinstall.selection import SelectionRules, iter_ranked, order_candidates
from safeinstall.target import current_target

TARGET = current_target()
PY = f"cp{TARGET.version_string.replace('.', '')[:3]}"
NAME = canonicalize_name("demo")
SOURCES = (Source("https://a.example/simple/", "index"),
           Source("https://b.example/simple/", "index"))

VERSIONS = ["0.9", "1.0", "1.0.post1", "1.1a1", "1.1", "1.2rc1", "2.0.dev3", "2.0b1", "2.0",
            "2.1", "3.0a2"]
TAGS = ["py3-none-any", f"{PY}-{PY}-manylinux_2_17_x86_64", "cp27-cp27m-win32",
        "py2-none-any", f"{PY}-abi3-linux_x86_64"]
SPECS = ["", ">=1.0", "<2", ">=1.1,<2.1", "!=2.0", ">=1.2rc1", "==1.*", "~=1.0", ">3",
         ">=2.0b1", "<1.1a1", "!=2.1,!=2.0"]
REQUIRES_PYTHON = [None, ">=3", "<3", ">=3.6", "==2.7.*"]

files = st.lists(
    st.tuples(
        st.sampled_from(VERSIONS),
        st.one_of(st.none(), st.sampled_from(TAGS)),  # None: an sdist
        st.sampled_from(REQUIRES_PYTHON),
        st.booleans(),  # yanked
        st.sampled_from([0, 1]),  # source
        st.sampled_from(["", "-1", "-2"]),  # build tag
    ),
    max_size=25,
)


def listing_of(entries: list[tuple[str, str | None, str | None, bool, int, str]]) \
        -> ProjectListing:
    raw = []
    for i, (version, tag, rp, yanked, src, build) in enumerate(entries):
        fname = f"demo-{version}{build}-{tag}.whl" if tag else f"demo-{version}.tar.gz"
        source = SOURCES[src]
        entry = {"url": f"{source.url}files/{i}/{fname}", "requires-python": rp,
                 "yanked": yanked, "hashes": {"sha256": f"{i:064x}"}}
        plausible, guessed = _guess_version(NAME, filename_in_url(str(entry["url"])))
        assert plausible
        raw.append((source, entry, fname, guessed))
    return ProjectListing(NAME, None, raw=raw)


def picks(ranked: object) -> list[tuple[str, str]]:
    return [(r.file.url, str(r.file.version)) for r in ranked]  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None)
@given(files, st.sampled_from(SPECS), st.booleans(), st.booleans(), st.booleans())
def test_lazy_ranking_is_exactly_the_eager_order(entries: list, spec: str, pre: bool,
                                                 prefer_binary: bool, ignore_rp: bool) -> None:
    rules = SelectionRules(target=TARGET, allow_all_prereleases=pre,
                           prefer_binary=prefer_binary, ignore_requires_python=ignore_rp)
    specifier = SpecifierSet(spec)
    eager = order_candidates(listing_of(entries).candidates(specifier), specifier, rules)
    lazy = list(iter_ranked(listing_of(entries), specifier, rules))
    assert picks(lazy) == picks(eager)


def test_prerelease_fallback_when_no_final_release_fits() -> None:
    # the only final release has no compatible file: pip falls back to the pre-releases,
    # highest first, including the one above the final release
    entries = [("1.0", "cp27-cp27m-win32", None, False, 0, ""),
               ("2.0b1", "py3-none-any", None, False, 0, ""),
               ("0.9", None, "<3", False, 0, ""),
               ("1.1a1", None, None, False, 0, "")]
    rules = SelectionRules(target=TARGET)
    lazy = list(iter_ranked(listing_of(entries), SpecifierSet(""), rules))
    assert [str(r.file.version) for r in lazy] == ["2.0b1", "1.1a1"]


def test_a_compatible_final_release_keeps_prereleases_out_and_yanked_files_never_count() -> None:
    entries = [("2.0b1", "py3-none-any", None, False, 0, ""),
               ("1.1", "py3-none-any", None, True, 0, ""),  # yanked: counts as compatible
               ("1.0", None, None, False, 0, "")]
    rules = SelectionRules(target=TARGET)
    lazy = list(iter_ranked(listing_of(entries), SpecifierSet(""), rules))
    assert [str(r.file.version) for r in lazy] == ["1.0"]


def test_lazy_ranking_reads_only_the_releases_it_is_asked_for() -> None:
    entries = [(v, "py3-none-any", None, False, 0, "") for v in ("1.0", "1.1", "2.0", "2.1")]
    listing = listing_of(entries)
    first = next(iter_ranked(listing, SpecifierSet(">=1"), SelectionRules(target=TARGET)))
    assert str(first.file.version) == "2.1"
    assert len(listing._parsed) == 1  # only 2.1's file was parsed


PINNED_VERSIONS = ["0.9", "1.0", "1.0.0", "1.0+loc", "1.0.post1", "1.1", "2.0b1", "2.0"]
PINNED_SPECS = ["==1.0", "==1.0,>=0.9,!=1.0.post1", "==1.0,<1.0", "==1.0.0,!=1.0+loc",
                "==2.0b1,>=2.0b1", "===1.0", "==1.0,===1.0.0", "==1.0+loc,>=1",
                ">=0.9,==1.1,<3,!=1.0", "==1.*,==1.0"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PINNED_VERSIONS),
                          st.one_of(st.none(), st.sampled_from(TAGS)),
                          st.sampled_from(REQUIRES_PYTHON), st.booleans(),
                          st.sampled_from([0, 1]), st.sampled_from(["", "-1"])), max_size=20),
       st.sampled_from(PINNED_SPECS), st.booleans())
def test_pinned_lookups_find_exactly_the_files_of_the_whole_specifier(
        entries: list, spec: str, pre: bool) -> None:
    # the listing is asked with the pin's clause alone (issue 21): the files ranked must be
    # those the whole specifier admits, in pip's order
    rules = SelectionRules(target=TARGET, allow_all_prereleases=pre)
    specifier = SpecifierSet(spec)
    eager = order_candidates(listing_of(entries).candidates(specifier), specifier, rules)
    lazy = list(iter_ranked(listing_of(entries), specifier, rules))
    assert picks(lazy) == picks(eager)
