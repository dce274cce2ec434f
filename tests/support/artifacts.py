"""Builders of real, installable distributions for tests (standard library only).

* :func:`build_wheel` writes a wheel pip installs with ``--no-index --no-deps``.
* :func:`build_sdist` writes an sdist whose build backend is in the tree (the module
  :mod:`support.inbackend`, copied in), so pip builds it with no build dependency from any
  index. With ``SAFE_INSTALL_TEST_BUILD_MARKER=<path>`` in the environment each backend hook
  appends its name to ``<path>``: a test can prove whether a build ran.

Both are deterministic: equal arguments give byte-identical files (hence equal sha256).
Use ``payload`` to make two artifacts of one version differ; the installed package exposes
it as ``<module>.PAYLOAD`` next to ``<module>.__version__``.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import inbackend
from .inbackend import (
    BUILD_MARKER_ENV,
    DIST_JSON,
    core_metadata,
    dist_stem,
    filename_name,
    module_name,
    normalize_name,
    sdist_filename,
    wheel_filename,
)

__all__ = [
    "BUILD_MARKER_ENV",
    "build_sdist",
    "build_wheel",
    "filename_name",
    "module_name",
    "normalize_name",
    "read_wheel_metadata",
    "sdist_filename",
    "wheel_filename",
]

_PYPROJECT = """\
[build-system]
requires = []
build-backend = "inbackend"
backend-path = ["."]
"""


def build_wheel(
    out_dir: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    build_tag: str | None = None,
    payload: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a wheel of ``name`` ``version`` into ``out_dir`` and return its path.

    The wheel holds ``<module>/__init__.py`` (defining ``__version__`` and ``PAYLOAD``) and a
    ``.dist-info`` with METADATA (Metadata-Version 2.1), WHEEL (one ``Tag:`` line per tag of
    the compressed ``tag`` set; ``Root-Is-Purelib`` iff the platform is ``any``) and a RECORD
    of sha256 entries. The filename follows the wheel spec:
    ``{normalized_name}-{version}[-{build_tag}]-{tag}.whl`` with ``_`` in the name.
    """
    return inbackend.write_wheel(
        out_dir,
        name,
        version,
        tag=tag,
        requires_dist=list(requires_dist),
        requires_python=requires_python,
        provides_extra=list(provides_extra),
        build_tag=build_tag,
        payload=payload,
        extra_files=extra_files,
    )


def build_sdist(
    out_dir: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    static_metadata: bool = True,
    payload: str | None = None,
    provides_extra: Sequence[str] = (),
    metadata_version: str | None = None,
    pkg_info_requires_dist: Sequence[str] | None = None,
    build_requires: Sequence[str] = (),
    dynamic_build_requires: Sequence[str] = (),
) -> Path:
    """Write ``{normalized_name}-{version}.tar.gz`` into ``out_dir`` and return its path.

    The sdist holds PKG-INFO, ``pyproject.toml`` naming the in-tree backend ``inbackend``
    (``backend-path = ["."]``, ``requires = []``), ``inbackend.py``, the package's
    ``__init__.py`` and a JSON file the backend reads. A wheel built from it depends on
    ``requires_dist`` and is tagged ``py3-none-any``.

    PKG-INFO:

    * ``static_metadata=True``: Metadata-Version 2.2, no ``Dynamic`` field, and the
      ``Requires-Dist`` lines (PEP 643: a tool may trust them without building);
    * ``static_metadata=False``: Metadata-Version 2.2 with ``Dynamic: Requires-Dist`` and no
      ``Requires-Dist`` lines (only a build, or ``prepare_metadata_for_build_wheel``, tells).

    ``metadata_version`` overrides the Metadata-Version (e.g. ``"2.1"``: pre-PEP 643, so
    nothing in PKG-INFO is reliable, with ``Dynamic`` lines dropped).
    ``pkg_info_requires_dist`` overrides the ``Requires-Dist`` lines written into PKG-INFO,
    e.g. to make an sdist whose PKG-INFO disagrees with what its build produces.
    ``build_requires`` fills ``[build-system] requires`` (pip installs them from the index into
    the isolated build environment; the in-tree backend itself needs none of them).
    ``dynamic_build_requires`` is what the backend's ``get_requires_for_build_wheel`` returns.
    """
    version_field = metadata_version or "2.2"
    dynamic: list[str] = []
    if not static_metadata and version_field != "2.1":
        dynamic.append("Requires-Dist")
    if pkg_info_requires_dist is None:
        pkg_info_requires_dist = list(requires_dist) if static_metadata else []
    pkg_info = core_metadata(
        name,
        version,
        metadata_version=version_field,
        requires_dist=pkg_info_requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        dynamic=dynamic,
    )
    dist = {
        "name": name,
        "version": version,
        "requires_dist": list(requires_dist),
        "requires_python": requires_python,
        "provides_extra": list(provides_extra),
    }
    if dynamic_build_requires:
        dist["dynamic_build_requires"] = list(dynamic_build_requires)
    with tempfile.TemporaryDirectory(prefix="sdist-tree-") as tmp:
        tree = Path(tmp)
        (tree / "PKG-INFO").write_text(pkg_info, encoding="utf-8")
        pyproject = _PYPROJECT.replace(
            "requires = []", "requires = " + json.dumps(list(build_requires)))
        (tree / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        (tree / "inbackend.py").write_text(
            Path(inbackend.__file__).read_text(encoding="utf-8"), encoding="utf-8"
        )
        (tree / DIST_JSON).write_text(json.dumps(dist, indent=2) + "\n", encoding="utf-8")
        package = tree / module_name(name)
        package.mkdir()
        (package / "__init__.py").write_text(
            inbackend.module_source(name, version, payload), encoding="utf-8"
        )
        return inbackend.write_sdist_from_tree(tree, out_dir, dist_stem(name, version))


def read_wheel_metadata(wheel: Path) -> bytes:
    """Return the bytes of the ``.dist-info/METADATA`` file inside ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1]
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return archive.read(metadata)
