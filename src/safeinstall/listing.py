"""All files of one project across all sources (:class:`ProjectListing`), kept raw and
parsed (:func:`safeinstall.indexdata.to_file`) only when a version is looked at."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterable, Sequence

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from safeinstall.errors import IndexAccessError
from safeinstall.indexdata import _entry_sha256, _guess_version, to_file
from safeinstall.models import IndexFile, LightFile, Source
from safeinstall.pages import Entry, detached, entry_values

#: A raw page entry as the finder keeps it: its source, the entry, its file name and the
#: version in that name (None: only the full parse can tell).
RawEntry = tuple["Source", Entry, str, "Version | None"]


class ProjectListing:
    """All files of one project across all sources, in pip's collection order.

    Pages of popular projects list thousands of files, and parsing each one (URL, tags,
    hashes, times) costs more than fetching the page; most of them are of versions nobody asks
    about. So a listing built by the finder keeps the raw entries, grouped by the version in
    their file name, and turns them into :class:`IndexFile` values only when a version is
    looked at (:meth:`candidates`, :meth:`release`). ``files`` parses everything (cached).

    Even raw, the entries of every version of every project of a large lock are most of the
    run's memory (issue 21). A listing whose finder was told which versions can be asked for
    (:meth:`~safeinstall.finder.Finder.expect`) keeps only theirs (:meth:`compact`); anything
    that touches another version reads the pages again (:meth:`_restore`), and refuses them
    unless they are the same bytes as the first time, so that one run never sees two versions
    of a page. The page worker (:mod:`safeinstall.pagework`) sets those versions aside before
    the listing is made (``dropped``: their entries are None in ``raw``); :meth:`compact` then
    checks that it would have set aside the same.
    """

    def __init__(self, name: NormalizedName, files: Sequence[IndexFile] | None = None,
                 notes: tuple[str, ...] = (), *,
                 raw: Sequence[RawEntry | None] = (),
                 dropped: Sequence[tuple[Version, array[int]]] = (),
                 index_urls: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.notes = notes
        self._eager = tuple(files) if files is not None else None
        self._raw: Sequence[RawEntry | None] = tuple(raw)
        #: entries set aside before the listing was made (the page worker's ``dropped``):
        #: :meth:`compact` must be called, and gives them back if it would keep them
        self._gaps = bool(dropped)
        #: set while :meth:`compact` has dropped entries: gives them back (:meth:`_restore`)
        self._reread: Callable[[], ProjectListing] | None = None
        #: what the pages read were (set by the finder): a re-read must be the same
        self.digest: str | None = None
        self._restore_lock = threading.Lock()
        self._parsed: dict[int, IndexFile | None] = {}
        self._all: tuple[IndexFile, ...] | None = self._eager
        #: version -> indices of its raw entries (compact arrays: a large lock lists millions of
        #: entries, most of them dropped, issue 21)
        self._by_version: dict[Version | None, array[int]] = {}
        self._version_groups: dict[Version, list[int]] | None = None
        self._index_urls: tuple[str, ...] | None = index_urls
        self._by_name: dict[str, list[int]] | None = None
        #: :meth:`candidates` by specifier: the resolver asks the same again every round
        self._candidates: dict[SpecifierSet, tuple[IndexFile, ...]] = {}
        # grouped by the version object first (the finder's parse gives one object per
        # version text: hashing a Version costs more than hashing its id), then merged by
        # equal versions ("1.0" and "1.0.0")
        by_object: dict[int, tuple[Version | None, array[int]]] = {}
        for i, item in enumerate(self._raw):
            if item is None:
                continue  # (set aside already: in ``dropped``)
            key = item[3]
            slot = by_object.get(id(key))
            if slot is None:
                by_object[id(key)] = slot = (key, array("I"))
            slot[1].append(i)
        # (each version's groups joined once: a page can spell one version thousands of ways)
        merged: dict[Version | None, list[array[int]]] = {}
        for key, indices in (*by_object.values(), *dropped):
            merged.setdefault(key, []).append(indices)
        by_version = self._by_version
        for key, groups in merged.items():
            by_version[key] = groups[0] if len(groups) == 1 else \
                array("I", sorted(i for group in groups for i in group))

    def __repr__(self) -> str:
        return f"<ProjectListing {self.name}: {len(self._eager or self._raw)} file(s)>"

    def compact(self, keep: Callable[[Version], bool],
                reread: Callable[[], ProjectListing]) -> None:
        """Drop the raw entries of the versions ``keep`` rejects (entries whose version only
        the full parse tells are kept). ``reread`` must collect the same pages again."""
        if self._eager is not None or self._all is not None or self._reread is not None:
            return
        kept = [v for v in self._by_version if v is None or keep(v)]
        if len(kept) == len(self._by_version) and not self._gaps:
            return
        self.index_urls()  # (from every entry, before any is dropped)
        old = self._raw
        raw: list[RawEntry | None] = [None] * len(old)
        incomplete = False
        for version in kept:
            for i in self._by_version[version]:
                item = old[i]
                if item is None:  # (set aside by the page worker: it should not have been)
                    incomplete = True
                    continue
                # (what is kept no longer holds its page's bytes)
                raw[i] = (item[0], detached(item[1]), item[2], item[3])
        self._raw = raw
        self._by_name = None
        self._reread = reread
        if incomplete:
            self._restore()

    def _is_dropped(self, version: Version) -> bool:
        """Whether :meth:`compact` dropped the entries of ``version`` (it drops whole
        versions)."""
        indices = self._by_version.get(version)
        return indices is not None and len(indices) > 0 and self._raw[indices[0]] is None

    def _restore(self) -> None:
        """Every entry back, from the pages read again; they must be the same bytes."""
        with self._restore_lock:
            if self._reread is None:
                return
            fresh = self._reread()
            if fresh.digest != self.digest or len(fresh._raw) != len(self._raw):
                raise IndexAccessError(
                    f"the index pages of {self.name} changed during this run (read again for "
                    "versions set aside to save memory, they were not the same bytes)",
                    hint="run the command again; if it keeps happening, the index or something "
                    "between you and it serves a different page to every request",
                )
            self._raw = fresh._raw
            self._by_name = None
            self._reread = None

    def _entry(self, i: int) -> RawEntry:
        item = self._raw[i]
        if item is None:
            self._restore()
            item = self._raw[i]
            assert item is not None  # (restored: every entry is there)
        return item

    def _file(self, i: int) -> IndexFile | None:
        if i not in self._parsed:
            source, entry, _fn, _v = self._entry(i)
            self._parsed[i] = to_file(self.name, source, entry_values(entry))
        return self._parsed[i]

    def _files_at(self, indices: Iterable[int]) -> tuple[IndexFile, ...]:
        out = []
        for i in sorted(indices):
            f = self._file(i)
            if f is not None:
                out.append(f)
        return tuple(out)

    @property
    def files(self) -> tuple[IndexFile, ...]:
        if self._all is None:
            self._all = self._files_at(range(len(self._raw)))
        return self._all

    def candidates(self, specifier: SpecifierSet) -> tuple[IndexFile, ...]:
        """The files whose version the specifier admits (pre-releases included, so pip's own
        pre-release rule can still be applied by the caller), in collection order."""
        known = self._candidates.get(specifier)
        if known is not None:
            return known
        if self._eager is not None or self._all is not None:
            found = tuple(f for f in self.files
                          if specifier.contains(f.version, prereleases=True))
        else:
            wanted: list[int] = list(self._by_version.get(None, ()))
            for version, indices in self._by_version.items():
                if version is not None and specifier.contains(version, prereleases=True):
                    wanted.extend(indices)
            found = tuple(f for f in self._files_at(wanted)
                          if specifier.contains(f.version, prereleases=True))
        if len(self._candidates) < 256:
            self._candidates[specifier] = found
        return found

    def versions(self) -> tuple[Version, ...]:
        """Every version that has a listed file, highest first (files parsed only where their
        name does not show the version cheaply)."""
        return tuple(self._groups())

    def files_of(self, version: Version) -> tuple[IndexFile, ...]:
        """The files of one version, in collection order."""
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.version == version)
        # (not through _groups: sorting every version of every project costs more than this)
        indices = [*self._by_version.get(version, ()), *self._by_version.get(None, ())]
        return tuple(f for f in self._files_at(indices) if f.version == version)

    def _groups(self) -> dict[Version, list[int]]:
        """Version -> indices of its raw entries, highest version first (built once)."""
        groups = self._version_groups
        if groups is not None:
            return groups
        merged: dict[Version, list[int]] = {}
        if self._eager is not None or self._all is not None:
            for f in self.files:
                merged.setdefault(f.version, [])
        else:
            for version, indices in self._by_version.items():
                if version is not None:
                    merged.setdefault(version, []).extend(indices)
            for i in self._by_version.get(None, ()):
                parsed = self._file(i)
                if parsed is not None:
                    merged.setdefault(parsed.version, []).append(i)
        groups = {v: sorted(merged[v]) for v in sorted(merged, reverse=True)}
        self._version_groups = groups
        return groups

    def release(self, version: Version, source: Source) -> tuple[IndexFile, ...]:
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.version == version and f.source == source)
        indices = [*self._by_version.get(version, ()), *self._by_version.get(None, ())]
        return tuple(f for f in self._files_at(indices)
                     if f.version == version and f.source == source)

    def index_urls(self) -> tuple[str, ...]:
        """The origins (:attr:`Source.is_origin`: indexes and find-links pages on a server, not
        ``file:`` indexes or find-links directories) that list files of this project, in
        order."""
        if self._eager is not None or self._all is not None:
            return tuple(dict.fromkeys(f.source.url for f in self.files if f.source.is_origin))
        if self._index_urls is None:
            # (a page's entries share one Source object: each is looked at once per run of it)
            urls: dict[str, None] = {}
            last: Source | None = None
            for item in self._raw:
                if item is not None and item[0] is not last:
                    last = item[0]
                    if last.is_origin:
                        urls[last.url] = None
            self._index_urls = tuple(urls)
        return self._index_urls

    def light(self) -> tuple[LightFile, ...]:
        """Every listed file's name, sha256, version and source, without full parsing."""
        if self._eager is not None or self._all is not None:
            return tuple(LightFile(f.filename, f.sha256, f.version, f.source) for f in self.files)
        if self._reread is not None:
            self._restore()
        return tuple(LightFile(fn, _entry_sha256(entry_values(entry)), version, source)
                     for source, entry, fn, version in map(self._entry, range(len(self._raw))))

    def named(self, filename: str) -> tuple[IndexFile, ...]:
        """Every listed file with this exact file name (on any source)."""
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.filename == filename)
        if self._reread is not None:
            plausible, version = _guess_version(self.name, filename)
            if not plausible:
                return ()  # (the finder keeps no entry of such a name)
            if version is None or self._is_dropped(version):
                self._restore()
        by_name_now = self._by_name
        if by_name_now is None:
            # (built while no restore runs: one replaces the entries and drops this index)
            with self._restore_lock:
                by_name: dict[str, list[int]] = {}
                for i, item in enumerate(self._raw):
                    if item is not None:
                        by_name.setdefault(item[2], []).append(i)
                self._by_name = by_name_now = by_name
        return self._files_at(by_name_now.get(filename, ()))
