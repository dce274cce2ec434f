"""Issue 15: the SARIF of guard and audit validates against the SARIF 2.1.0 JSON schema
(tests/data/sarif-schema-2.1.0.json, see its SOURCE note) and locates results relative to the
repository root, whatever path was typed."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from lockhelp import publish, run_tool

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
LATE = timedelta(days=90)


def validate(doc: dict) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)


@pytest.fixture
def repo(tmp_path, local_index, t0):
    """A git repository with a lock in locks/ that trusts a late file, an unhashed pin and a
    hash the index does not have."""
    root = tmp_path / "repo"
    (root / "locks").mkdir(parents=True)
    (root / "sub" / "deeper").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, capture_output=True)
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag="cp312-cp312-win_amd64",
                   offset=LATE)
    (root / "locks" / "old.txt").write_text(f"demo==1.0 --hash=sha256:{pure.sha256}\n"
                                            "other==1.0\n")
    (root / "locks" / "new lock.txt").write_text(
        f"demo==1.0 --hash=sha256:{pure.sha256} --hash=sha256:{late.sha256}\n"
        f"other==1.0\nghost==1.0 --hash=sha256:{'ab' * 32}\n")
    return root


@pytest.mark.parametrize("where", ["subdirectory", "absolute", "root"])
@pytest.mark.parametrize("command", ["guard", "audit"])
def test_sarif_validates_and_paths_are_relative_to_the_repository(command, where, repo,
                                                                  local_index, tmp_path,
                                                                  clean_pip_env):
    if where == "subdirectory":
        cwd, name = repo / "sub" / "deeper", "../../locks/new lock.txt"
    elif where == "absolute":
        cwd, name = tmp_path, str(repo / "locks" / "new lock.txt")
    else:
        cwd, name = repo, "locks/new lock.txt"
    files = [name.replace("new lock", "old"), name] if command == "guard" else [name]
    run = run_tool([command, *files, "-i", local_index.url, "--format", "sarif",
                    "--targets", "current,3.12:win_amd64"], clean_pip_env, tmp_path, cwd=cwd)
    assert run.code == 1, run.stderr
    doc = json.loads(run.stdout)
    validate(doc)
    (sarif_run,) = doc["runs"]
    results = sarif_run["results"]
    rules = {r["ruleId"] for r in results}
    assert "safe-install/late-artifact" in rules and "safe-install/unknown-hash" in rules
    for result in results:
        art = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert art == {"uri": "locks/new%20lock.txt", "uriBaseId": "SRCROOT"}
    base = sarif_run["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base == repo.resolve().as_uri() + "/"
