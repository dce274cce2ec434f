"""Run ``safe-install`` in-process against the local index, with a hermetic environment."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeinstall.cli import main


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def package(self, name: str) -> dict[str, Any]:
        assert self.report is not None
        for p in self.report["packages"]:
            if p["name"] == name:
                return p
        names = [p["name"] for p in self.report["packages"]]
        raise AssertionError(f"{name} not in report: {names}")

    def kinds(self, name: str) -> list[tuple[str, str]]:
        return [(f["kind"], f["severity"]) for f in self.package(name)["findings"]]


def run_cli(args: list[str], env: dict[str, str], tmp_path: Path, *,
            report: bool = True, cwd: Path | None = None) -> Run:
    env = dict(env)
    env.setdefault("SAFE_INSTALL_CACHE_DIR", str(tmp_path / "si-cache"))
    env.setdefault("SAFE_INSTALL_TRUST_STORE", str(tmp_path / "si-trust.sqlite3"))
    report_path = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    argv = list(args) + (["--report", str(report_path)] if report else [])
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=env, stdout=out, stderr=err, cwd=str(cwd or tmp_path))
    data = json.loads(report_path.read_text()) if report and report_path.exists() else None
    stderr = err.getvalue()
    assert "Traceback" not in stderr, stderr
    return Run(code, out.getvalue(), stderr, data)
