"""Direct requirements (URL, VCS and path, PEP 440 ``name @ url`` included): refused before
anything is fetched or built unless the policy allows them; what is fetched is verified
against its hashes; a local or VCS project's build environment is checked as an sdist's
(:func:`safeinstall.builds.check_build_env`) before pip prepares its metadata."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.builds import check_build_env, metadata_from_report, pip_metadata_report
from safeinstall.candidates import DirectCandidate
from safeinstall.checkcontext import CheckContext
from safeinstall.distmeta import parse_metadata, read_wheel_metadata
from safeinstall.errors import PolicyRefusal, RequirementError
from safeinstall.models import UserRequirement

VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


def direct_candidate(ctx: CheckContext, ur: UserRequirement, req: Requirement | None, *,
                     editable: bool = False) -> DirectCandidate:
    """A URL, VCS or path requirement.  Remote sources are refused before anything is fetched
    or built unless the policy says otherwise; local paths are the user's own code."""
    url = req.url if req is not None and req.url else ur.text
    extras = frozenset(canonicalize_name(e) for e in req.extras) if req is not None else frozenset()
    if not url.startswith(VCS_PREFIXES) and "[" in url and not os.path.exists(url):
        base, _, rest = url.partition("[")
        if rest.endswith("]"):
            url, extras = base, frozenset(canonicalize_name(e) for e in rest[:-1].split(","))
    scheme = urlsplit(url).scheme
    if url.startswith(VCS_PREFIXES):
        kind = "vcs"
    elif scheme in ("http", "https"):
        kind = "url"
    else:
        kind = "editable" if editable else "local"
    # the hashes that vouch for a URL: --hash values and, as in pip, a #sha256= fragment; a
    # VCS checkout has no file to hash (pip refuses --hash on one), so nothing vouches for it
    hashes = (*ur.hashes, *_fragment_hashes(url, ur)) if kind == "url" else ()
    if kind in ("vcs", "url") and ctx.policy.on_unverifiable == "refuse" and not hashes:
        raise PolicyRefusal(
            f"{url!r} ({ur.source}) is a {'VCS' if kind == 'vcs' else 'direct URL'} requirement: "
            "its files have no index, no upload time and no trusted hash, so they cannot be "
            "checked, and building it would run its code",
            hint=("install it from an index; or pin it to a full commit (@<commit hash>), "
                  "review that commit, and accept the risk with --on-unverifiable warn (pip "
                  "cannot check a --hash of a VCS requirement)") if kind == "vcs" else
            ("install it from an index; or pin the file: a #sha256=<hex> fragment on the URL, "
             "or --hash=sha256:<hex> on its line in a requirements file; or accept the risk "
             "with --on-unverifiable warn"),
        )
    path: str | None = None
    if kind == "url":
        # fetch it ourselves and verify the user's hashes before reading or building it
        path = str(ctx.cache.fetch_url(
            url, expected=frozenset(h.split(":", 1)[1].lower() for h in hashes
                                    if h.lower().startswith("sha256:"))))
    if kind in ("local", "editable") and not url.startswith(VCS_PREFIXES):
        path = url[len("file://"):] if url.startswith("file://") else url
        if not os.path.isabs(path):
            path = os.path.join(ur.base_dir or ctx.cwd, path)
        if not os.path.exists(path):
            raise RequirementError(
                f"{ur.text!r} ({ur.source}) is neither a valid requirement nor an existing path",
                hint="check the spelling; names need no path separators, paths must exist",
            )
    if path is not None and path.endswith(".whl") and os.path.isfile(path):
        meta = parse_metadata(read_wheel_metadata(Path(path), os.path.basename(path)
                                                  .split("-")[0]), path)[0]
    else:
        build_env = None
        if path is not None:
            with ctx.build_lock:
                build_env = check_build_env(ctx, os.path.basename(path.rstrip("/")),
                                            Path(path), editable=editable)
        ctx.progress(f"preparing metadata of {url}")
        item = pip_metadata_report(ctx, path or url, editable=editable, build_env=build_env,
                                   vcs=path is None)
        meta = metadata_from_report(item, url)
    name = canonicalize_name(meta.name)
    if req is not None and canonicalize_name(req.name) != name:
        raise RequirementError(f"{ur.text!r} ({ur.source}) names {req.name!r}, but the project "
                               f"at that location is {meta.name!r}")
    try:
        version = Version(meta.version)
    except InvalidVersion:
        raise RequirementError(f"{url!r} has an invalid version {meta.version!r}") from None
    if path is not None and not path.endswith(".whl"):
        key = os.path.basename(path.rstrip("/"))
        if key in ctx.build_envs:
            ctx.build_envs[name] = ctx.build_envs.pop(key)
    return DirectCandidate(name, version, url, kind, meta, extras, path,
                           frozenset(h.split(":", 1)[1] for h in hashes))


def _fragment_hashes(url: str, ur: UserRequirement) -> tuple[str, ...]:
    """``sha256:HEX`` from a ``#sha256=HEX`` URL fragment (pip's link hash); other hash names
    are not trust, as for --hash."""

    found = re.findall(r"(?:^|&)sha256=([^&]*)", urlsplit(url).fragment)
    for value in found:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise RequirementError(f"{url!r} ({ur.source}) has a malformed #sha256= fragment",
                                   hint="a sha256 is 64 hexadecimal digits")
    return tuple(f"sha256:{v.lower()}" for v in found)
