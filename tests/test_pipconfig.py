"""pip's configuration as safe-install reads it equals what ``pip config list`` prints, both
on the path that runs pip and on the one that does not (``PIP_CONFIG_FILE=/dev/null``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from safeinstall.pipconfig import PendingPipConfig, parse_config_list

#: variables whose names and values exercise pip's rules: case, ``_`` -> ``-``, a leading
#: ``--``, the names pip ignores, quotes, backslashes, spaces, newlines, non-ASCII, empty
ODD_VARIABLES = {
    "PIP_INDEX_URL": "https://example.invalid/simple/",
    "PIP_EXTRA_INDEX_URL": "https://a.invalid/simple https://b.invalid/simple",
    "PIP_FIND_LINKS": "C:\\wheels\\new folder",
    "PIP_no_deps": "1",
    "PIP___TIMEOUT": "7",
    "PIP_VERSION": "ignored by pip",
    "PIP_HELP": "ignored too",
    "PIP_TRUSTED_HOST": "it's \"quoted\"",
    "PIP_CONSTRAINT": "line one\nline two",
    "PIP_PROGRESS_BAR": "off \u00e9",
    "PIP_EMPTY": "",
    "PIPX_HOME": "/not/pip",
}


def pip_config_list(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return parse_config_list(out)


def test_without_config_files_the_variables_are_read_as_pip_reads_them(clean_pip_env):
    env = {**clean_pip_env, **ODD_VARIABLES}
    assert env["PIP_CONFIG_FILE"] == os.devnull
    pending = PendingPipConfig(env)
    assert pending._proc is None  # no pip was started
    ours = dict(pending.result().items)
    pips = pip_config_list({**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert ours == pips
    assert ours[":env:.find-links"] == "C:\\wheels\\new folder"
    assert ours[":env:.timeout"] == "7" and ":env:.version" not in ours


def test_values_read_through_pip_keep_quotes_and_backslashes(clean_pip_env, tmp_path: Path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nfind-links = C:\\wheels\\x 'y'\n"
                    "[install]\nextra-index-url =\n    https://a.invalid/simple\n"
                    "    https://b.invalid/simple\n", encoding="utf-8")
    env = {**clean_pip_env, "PIP_CONFIG_FILE": str(conf), "PIP_TRUSTED_HOST": 'a "b"'}
    pending = PendingPipConfig(env)
    assert pending._proc is not None  # a real file: pip reads it
    config = pending.result()
    assert config.items == pip_config_list(env | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert config.get("find-links") == "C:\\wheels\\x 'y'"
    assert config.get("extra-index-url") == \
        "\nhttps://a.invalid/simple\nhttps://b.invalid/simple"
    assert config.get("trusted-host") == 'a "b"'


def test_isolated_reads_neither_files_nor_variables(clean_pip_env):
    pending = PendingPipConfig({**clean_pip_env, **ODD_VARIABLES}, isolated=True)
    assert dict(pending.result().items) == {}
