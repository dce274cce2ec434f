"""The page-level check of entry names (issue 21, cause 3 of benchmarks/cold-regression.md):
one scan of a page's names instead of a call per entry, refusing exactly what the per-name
check refuses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safeinstall.indexdata import all_safe_filenames, is_safe_filename

_NEAR = st.text(alphabet=st.sampled_from("ab1.-_+!~/\\\n \x00é.%"), max_size=12)
_SAFE = st.text(alphabet=st.sampled_from("abcXYZ019._+!~-"), min_size=1, max_size=20)


@given(st.lists(st.one_of(_SAFE, _NEAR, st.text(max_size=8)), max_size=8))
def test_one_scan_agrees_with_the_check_of_each_name(names: list[str]) -> None:
    assert all_safe_filenames(names) == all(is_safe_filename(n) for n in names)


def test_the_scan_refuses_what_only_joining_would_hide() -> None:
    good = "demo-1.0-py3-none-any.whl"
    assert all_safe_filenames([]) and all_safe_filenames([good, "demo-1.0.tar.gz"])
    for bad in ["", ".hidden.whl", "a/b.whl", "../x.whl", "a\nb.whl", "x" * 256, "a b.whl",
                "a\\b.whl", "\u202ex.whl"]:
        assert not all_safe_filenames([good, bad]), bad
        assert not all_safe_filenames([bad, good]), bad
    assert all_safe_filenames(["x" * 255])
