"""Attacks on build environments and locks (issues 14 and 15), tried as an attacker would: a
build backend, an sdist, a lock file, a build-constraints file and an index that lie. Each test
is an attack that got through (fixed since) or a regression test of one that held;
docs/threat-model.md and docs/faults.md name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from clihelp import run_cli
from lockhelp import run_tool
from support.artifacts import build_sdist, build_wheel
from support.inbackend import BUILD_MARKER_ENV
from support.piprun import pip_list


def _sentinel_pth(sentinel: Path) -> dict[str, bytes]:
    """A ``.pth`` file that, once installed on a path Python reads, appends to ``sentinel``."""
    line = f"import pathlib; pathlib.Path({str(sentinel)!r}).open('a').write('ran\\n')\n"
    return {"zz_sentinel.pth": line.encode()}


# -- a build requirement that names a URL or a path ---------------------------------------------


@pytest.mark.parametrize("where", ["static", "dynamic"])
def test_a_build_requirement_naming_a_file_url_is_refused_not_installed_unchecked(
        where, local_index, make_venv, clean_pip_env, tmp_path, t0):
    """``helper @ file:///...`` among an sdist's build requirements: the check resolved
    ``helper`` from the index (an on-time wheel), pip then installed the file the URL names
    into the build environment, unchecked (its .pth ran)."""
    out = tmp_path / "dists"
    sentinel = tmp_path / "sentinel"
    unchecked = build_wheel(tmp_path / "elsewhere", "helper", "1.0",
                            extra_files=_sentinel_pth(sentinel))
    req = f"helper @ {unchecked.as_uri()}"
    kwargs = {"build_requires": [req]} if where == "static" else \
        {"dynamic_build_requires": [req]}
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False, **kwargs),
                    upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert not sentinel.exists(), "an unchecked build dependency ran in a build environment"
    assert run.code == 1, run.stderr
    assert "helper @" in run.stderr and "demo" in run.stderr
    assert "Traceback" not in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


# -- a malformed --targets --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["lock", "audit", "guard"])
@pytest.mark.parametrize("targets", ["", ",", " , "])
def test_a_targets_value_that_names_no_target_is_a_usage_error(command, targets, local_index,
                                                               clean_pip_env, tmp_path, t0):
    """``--targets ""`` (an unset shell variable in CI): lock crashed with an IndexError
    traceback; audit and guard judged the hashes for no environment at all."""
    wheel = local_index.add(build_wheel(tmp_path / "dists", "demo", "1.0"), upload_time=t0)
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"demo==1.0 --hash=sha256:{wheel.sha256}\n")
    args = {"lock": ["lock", "demo"], "audit": ["audit", str(lock)],
            "guard": ["guard", str(lock), str(lock)]}[command]
    run = run_tool([*args, "-i", local_index.url, "--targets", targets], clean_pip_env,
                   tmp_path)
    assert run.code == 2, run.stdout + run.stderr
    assert "names no target" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "pylock.toml").exists()


# -- secrets in a lock ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_credentials_in_lock_entries_that_cannot_be_dated_are_not_printed(
        fmt, local_index, clean_pip_env, tmp_path, t0):
    """An archive URL or a VCS URL with a user and password (pylock.toml), and a direct URL
    and an editable VCS line with a token (requirements): audit and guard quoted them as
    written."""
    wheel = local_index.add(build_wheel(tmp_path / "dists", "demo", "1.0"), upload_time=t0)
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n'
        '[[packages]]\nname = "arch"\nversion = "1.0"\n\n[packages.archive]\n'
        'url = "https://carol:archpw@example.invalid/arch-1.0.tar.gz"\n'
        f'hashes = {{sha256 = "{"ab" * 32}"}}\n\n'
        '[[packages]]\nname = "vcsdep"\nversion = "1.0"\n\n[packages.vcs]\ntype = "git"\n'
        'url = "https://dave:vcspw@example.invalid/vcsdep.git"\n'
        f'commit-id = "{"a" * 40}"\n')
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"demo==1.0 --hash=sha256:{wheel.sha256}\n"
                    "direct @ https://erin:urlpw@example.invalid/direct-1.0.tar.gz\n"
                    "-e git+https://frank:edpw@example.invalid/ed.git#egg=ed\n")
    empty = tmp_path / "old" / "requirements.txt"
    empty.parent.mkdir()
    empty.write_text("")
    outputs = []
    for args in (["audit", str(pylock)], ["audit", str(reqs)],
                 ["guard", str(empty), str(reqs)]):
        run = run_tool([*args, "-i", local_index.url, "--format", fmt], clean_pip_env,
                       tmp_path)
        assert run.code in (0, 1), run.stderr
        outputs.append(run.stdout + run.stderr)
    text = "\n".join(outputs)
    assert "example.invalid" in text  # the entries are reported...
    for secret in ("archpw", "vcspw", "urlpw", "edpw"):
        assert secret not in text, secret  # ...without their passwords


# -- build-dependency cycles through sdists -------------------------------------------------------


@pytest.mark.parametrize("helper_needs", ["static", "dynamic"])
def test_an_sdist_whose_build_dependency_needs_it_back_is_an_error_not_a_hang(
        helper_needs, local_index, make_venv, clean_pip_env, tmp_path, t0):
    """demo (an sdist) needs helper to build; helper, itself an sdist, needs demo to build
    (declared, or asked for by its backend). The check of demo's build waited for demo's own
    metadata for ever."""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper"]), upload_time=t0)
    kwargs = {"build_requires": ["demo"]} if helper_needs == "static" else \
        {"dynamic_build_requires": ["demo>=1"]}
    local_index.add(build_sdist(out, "helper", "1.0", static_metadata=False, **kwargs),
                    upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path, report=False)
    assert run.code == 2, run.stderr
    assert "needs itself to build" in run.stderr and "Traceback" not in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


# -- a backend that spoils its own answer ---------------------------------------------------------

# the backend shares its process with the code that writes its answer down (both hooks run in
# one process, which answers before it ends): it spoils the writing itself
_SPOIL = '''
import json as _json
def _spoil(obj, fh, *args, **kwargs):
    fh.write("not json")
_json.dump = _spoil
'''


def test_a_backend_that_spoils_its_list_of_build_requirements_is_an_error_not_a_crash(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    """The backend spoils the file its answer to get_requires_for_build_wheel is written to
    (it overwrote it on exit, when each hook had a process of its own): the check crashed
    with a JSONDecodeError traceback."""
    import tarfile

    from support.inbackend import write_sdist_from_tree

    orig = build_sdist(tmp_path / "orig", "demo", "1.0", static_metadata=False)
    with tarfile.open(orig) as tf:
        tf.extractall(tmp_path / "tree", filter="data")
    tree = next((tmp_path / "tree").iterdir())
    (tree / "inbackend.py").write_text((tree / "inbackend.py").read_text() + _SPOIL)
    local_index.add(write_sdist_from_tree(tree, tmp_path / "dists", tree.name), upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path, report=False)
    assert run.code == 2, run.stderr
    assert "returned no list of requirements" in run.stderr and "Traceback" not in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


# -- held: nested sdist builds --------------------------------------------------------------------


def test_a_late_file_asked_for_by_the_backend_of_a_nested_sdist_build_is_refused(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    """demo (an sdist) needs helper to build; helper is an sdist too, whose backend asks for
    dyn at build time; dyn's only usable wheel came 30 days into its release. Held: refused
    before demo or helper is built."""
    from datetime import timedelta

    from support.scenarios import foreign_tag

    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper"]), upload_time=t0)
    local_index.add(build_sdist(out, "helper", "1.0", static_metadata=False,
                                dynamic_build_requires=["dyn"]), upload_time=t0)
    local_index.add(build_wheel(out, "dyn", "1.0", tag=foreign_tag()), upload_time=t0)
    local_index.add(build_wheel(out, "dyn", "1.0"), upload_time=t0 + timedelta(days=30))
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path,
                  report=False)
    assert run.code == 1, run.stderr
    assert "dyn" in run.stderr and "late" in run.stderr
    assert "build_wheel" not in marker.read_text().split()
    assert pip_list(venv, clean_pip_env) == {}
