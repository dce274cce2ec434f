"""``safe-install-tool timeline NAME==VERSION...``: see a release's files in time.

Every file of each release, in upload order, with its offset from the release start, tags, size
and sha256 prefix; files later than the threshold are marked; and for every target (this
interpreter and the common ones) the file pip would select. Drawn on a logarithmic time axis,
so a release whose files arrive within 38 minutes and one whose files keep arriving for nine
months are both readable; exported as JSON, or as SVG/HTML through rich's recording console.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from safeinstall.cmdline import declare_options, tool_option
from safeinstall.commands._common import (
    add_index_arguments,
    add_policy_arguments,
    add_target_arguments,
    load_policy,
    open_finder,
    parse_now,
    parse_pin,
    pip_settings,
    rules_factory,
    targets_of,
)
from safeinstall.durations import format_duration
from safeinstall.errors import ResolutionError, UsageError
from safeinstall.models import IndexFile
from safeinstall.releaseview import NamedTarget, ReleaseView, compress_names, release_views

HELP = ("show a release's files on a time axis: offsets from the release start, late files, "
        "and the file pip selects for each target")
DEFAULT_TARGETS = ("current,common",)
FORMATS = ("text", "json", "svg", "html")
#: Durations the axis may label (seconds).
_TICKS = (60, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400,
          180 * 86400, 365 * 86400, 730 * 86400)


OPTIONS = (
    tool_option("--format", kind="value", choices=FORMATS, default="text",
                help="text (terminal), json, svg or html (default text)"),
    tool_option("-o", "--output", kind="value", metavar="FILE",
                help="write to FILE instead of standard output"),
    tool_option("--width", kind="value", convert=int, metavar="COLUMNS",
                help="width of the drawing (default: the terminal's, else COLUMNS; "
                "text without either is one record per line; svg/html: 200)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("releases", nargs="+", metavar="NAME==VERSION",
                        help="the releases to draw")
    declare_options(parser, OPTIONS)
    add_policy_arguments(parser)
    add_target_arguments(parser, default=",".join(DEFAULT_TARGETS))
    add_index_arguments(parser)


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    now = parse_now(args.now)
    pins = [parse_pin(text) for text in args.releases]
    policy = load_policy(args, environ, cwd)
    settings = pip_settings(args, environ, cwd)
    targets = targets_of(args, settings, DEFAULT_TARGETS)
    rules_for = rules_factory(settings)
    index = open_finder(settings)
    views: list[ReleaseView] = []
    notes: list[str] = []
    try:
        index.finder.prefetch(name for name, _ in pins)
        for name, version in pins:
            listing = index.finder.project(name)
            notes.extend(n for n in listing.notes if n not in notes)
            found = release_views(listing, version, targets, rules_for, policy)
            if not found:
                where = ", ".join(settings.index_urls + settings.find_links) or "no index"
                raise ResolutionError(
                    f"no files of {name}=={version} on {where}",
                    hint="check the name and version, and the index options (pip's "
                    "configuration applies)")
            views.extend(found)
    finally:
        index.close()
    for note in notes:
        stderr.write(f"safe-install-tool timeline: note: {note}\n")
    output = args.output if args.output not in (None, "-") else None
    if args.format == "json":
        text = json.dumps(timeline_json(views, targets, now=now), indent=2) + "\n"
    else:
        width = args.width
        if width is None and args.format == "text":
            from safeinstall.layout import output_width

            width = output_width(stdout, {} if output else environ)
        text = draw(views, targets, fmt=args.format, width=width,
                    stream=None if output else stdout)
    if output:
        from safeinstall.fileio import write_atomically

        path = os.path.join(cwd, output)
        try:
            write_atomically(Path(path), text)
        except OSError as exc:
            raise UsageError(f"cannot write --output {output!r}: {exc.strerror}") from None
    elif text:
        stdout.write(text)
    return 0


# -- JSON -------------------------------------------------------------------------------------


def _time(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _seconds(d: timedelta | None) -> float | None:
    return d.total_seconds() if d is not None else None


def file_json(f: IndexFile) -> dict[str, Any]:
    return {
        "filename": f.filename,
        "kind": "wheel" if f.is_wheel else "sdist",
        "tags": sorted(str(t) for t in f.tags),
        "size": f.size,
        "sha256": f.sha256,
        "upload_time": _time(f.upload_time),
        "yanked": f.yanked,
        "requires_python": f.requires_python,
        "url": f.url,
    }


def timeline_json(views: Sequence[ReleaseView], targets: Sequence[NamedTarget], *,
                  now: datetime) -> dict[str, Any]:
    return {
        "format": "safe-install-timeline",
        "format_version": 1,
        "generated_at": _time(now),
        "targets": [{"name": t.name, "description": t.description, "python": t.python,
                     "platform": t.platform} for t in targets],
        "releases": [{
            "project": v.project,
            "version": str(v.version),
            "index": v.source.url,
            "source_kind": v.source.kind,
            "release_start": _time(v.start),
            "start_problem": v.problem,
            "last_upload": _time(v.end),
            "spread_seconds": _seconds(v.spread),
            "late_after_seconds": v.late_after.total_seconds(),
            "late_files": [r.file.filename for r in v.late_rows],
            "files": [{
                **file_json(r.file),
                "offset_seconds": _seconds(r.offset),
                "late": r.late,
                "verdict": r.verdict,
                "selected_by": list(r.selected_by),
            } for r in v.rows],
            "selection": {name: (f.filename if f is not None else None)
                          for name, f in v.selection},
        } for v in views],
    }


# -- drawing ----------------------------------------------------------------------------------


class Axis:
    """A logarithmic time axis from the release start (0) to its last upload.

    Position of offset t is log(1 + t/u) / log(1 + spread/u), u = spread/40 clamped to
    1s..60s: minutes stay apart in a 38-minute release, and in a nine-month release the first
    hour, the first day and the months after each get a readable share of the width.
    """

    def __init__(self, spread: timedelta, width: int) -> None:
        self.spread = max(spread.total_seconds(), 0.0)
        self.width = width
        self.unit = min(60.0, max(1.0, self.spread / 40))

    def position(self, offset: timedelta) -> int:
        t = min(max(offset.total_seconds(), 0.0), self.spread)
        if self.spread <= 0:
            return 0
        frac = math.log1p(t / self.unit) / math.log1p(self.spread / self.unit)
        return min(self.width - 1, round(frac * (self.width - 1)))

    def labels(self) -> str:
        cells = [" "] * self.width
        end = _short(self.spread)

        def place(text: str, pos: int) -> bool:
            pos = max(0, min(pos, self.width - len(text)))
            lo, hi = max(0, pos - 1), min(self.width, pos + len(text) + 1)
            if any(c != " " for c in cells[lo:hi]):
                return False
            cells[pos:pos + len(text)] = list(text)
            return True

        place("0", 0)
        place(end, self.width - len(end))
        for tick in _TICKS:
            if tick < self.spread * 0.9:
                label = _short(tick)
                place(label, self.position(timedelta(seconds=tick)) - len(label) // 2)
        return "".join(cells)


def _short(seconds: float) -> str:
    for size, unit in ((365 * 86400, "y"), (30 * 86400, "mo"), (7 * 86400, "w"), (86400, "d"),
                       (3600, "h"), (60, "m")):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f}{unit}" if value >= 10 or value == int(value) \
                else f"{value:.1f}{unit}"
    return f"{seconds:.0f}s"


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= limit:
            return f"{n / limit:.1f} {unit}"
    return f"{n} B"


def _file_cell(f: IndexFile, prefix: str) -> str:
    """A wheel's filename without the ``name-version-`` all wheels of the release share: what
    remains is its tags (``py3-none-any.whl``). Other files keep their whole name."""
    if f.is_wheel and prefix and f.filename.startswith(prefix):
        return f.filename[len(prefix):]
    return f"sdist {f.filename}" if not f.is_wheel else f.filename


def _prefix(view: ReleaseView) -> str:
    stems = [r.file.filename.rsplit("-", 3)[0] for r in view.rows if r.file.is_wheel]
    if not stems:
        return ""
    stem = max(set(stems), key=stems.count)
    return stem + "-"


def _bar(axis: Axis, offset: timedelta | None, late: bool, threshold: timedelta,
         dated: bool = False) -> Any:
    from rich.text import Text

    text = Text(no_wrap=True)
    if offset is None:
        return Text("? release start unknown" if dated else "? no upload time",
                    style="yellow")
    mark = axis.position(offset)
    cut = axis.position(threshold) if threshold.total_seconds() < axis.spread else None
    for i in range(axis.width):
        if i == mark:
            text.append("◆" if late else "●", style="bold red" if late else "bold green")
        elif cut is not None and i == cut:
            text.append("┆", style="red")
        elif cut is not None and i > cut:
            text.append("╌", style="red dim")
        else:
            text.append("─", style="dim")
    return text


#: the table's columns, dropped in this order when it does not fit (docs/reference.md)
TIMELINE_DROP_ORDER = ("size", "sha256", "uploaded (UTC)", "axis")


def render_view(view: ReleaseView, targets: Sequence[NamedTarget], console: Any, *,
                width: int | None = 200) -> None:
    """One release; ``width`` None: one record per line (no terminal and no COLUMNS)."""
    from rich.table import Table
    from rich.text import Text

    from safeinstall.layout import Column, fit_table, plain_record

    rows = view.rows
    wheels = sum(1 for r in rows if r.file.is_wheel)
    spread = view.spread or timedelta(0)
    late = view.late_rows
    title = Text()
    title.append(f"{view.project} {view.version}", style="bold")
    title.append(f"  on {view.source.url}", style="dim")
    console.print(title)
    summary = Text()
    summary.append(f"{len(rows)} files ({len(rows) - wheels} sdist, {wheels} wheels)")
    if view.start is not None:
        summary.append(f" · first upload {view.start.strftime('%Y-%m-%d %H:%M:%SZ')}"
                       f" · spread {format_duration(spread)}")
    summary.append(f" · threshold {format_duration(view.late_after)} · ")
    if late:
        summary.append(f"{len(late)} late file{'s' if len(late) != 1 else ''}",
                       style="bold red")
    elif view.timeline.first_upload is None:
        summary.append("no upload times: lateness unknown", style="yellow")
    elif view.problem is not None:
        summary.append("release start unknown: lateness unknown", style="yellow")
    else:
        summary.append("no late file", style="green")
    console.print(summary)
    if view.problem is not None and view.timeline.first_upload is not None:
        from safeinstall.display import printable

        console.print(Text(printable(view.problem), style="yellow"))
    if width is None:
        for r in rows:
            f = r.file
            console.print(Text(plain_record([
                ("file", f.filename),
                ("uploaded", f.upload_time.strftime("%Y-%m-%dT%H:%M:%SZ")
                 if f.upload_time else "unknown"),
                ("offset", "?" if r.offset is None else "+" + format_duration(r.offset)),
                ("late", "yes" if r.late else "no"), ("size", _size(f.size)),
                ("sha256", f.sha256 or "?"),
                ("selected-by", compress_names(r.selected_by, targets) or "-")]),
                style="red" if r.late else ""))
        _selection_lines(view, targets, console)
        return
    axis = Axis(spread, 48 if width >= 240 else 32 if width >= 160 else 20 if width >= 100 else 16)
    prefix = _prefix(view)
    headers = ("uploaded (UTC)", "offset", "axis", "file", "size", "sha256", "selected by")
    cells: list[tuple[str, ...]] = []
    gaps: dict[int, str] = {}  # row index -> the gap drawn before it
    previous: datetime | None = None
    for n, r in enumerate(rows):
        f = r.file
        if (previous is not None and f.upload_time is not None
                and f.upload_time - previous > view.late_after):
            gaps[n] = format_duration(f.upload_time - previous)
        if f.upload_time is not None:
            previous = f.upload_time
        offset = "?" if r.offset is None else "+" + format_duration(r.offset)
        cells.append((
            f.upload_time.strftime("%Y-%m-%d %H:%M") if f.upload_time else "unknown",
            offset + (" LATE" if r.late else ""), " " * axis.width, _file_cell(f, prefix),
            _size(f.size), (f.sha256 or "?")[:12], compress_names(r.selected_by, targets)))
    file_header = f"file (wheels: {prefix}…)" if prefix else "file"
    # the names a row is selected by wrap at spaces, never inside a name
    longest_name = max([len("selected by"), *(len(w) for c in cells for w in c[6].split())])
    columns = [Column(h if h != "axis" else axis.labels(),
                      drop_rank=TIMELINE_DROP_ORDER.index(h) + 1
                      if h in TIMELINE_DROP_ORDER else None,
                      shrink=h in ("file", "selected by"),
                      min_width={"file": 24, "selected by": longest_name}.get(h, 12))
               for h in headers]
    columns[3] = Column(file_header if len(file_header) <= 40 else "file", shrink=True,
                        min_width=24)
    gap_rows: list[tuple[str, ...]] = [("", f"⋮ {g}", "", "", "", "", "") for g in gaps.values()]
    fitted = fit_table(columns, cells + gap_rows, width)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold",
                  padding=(0, 1))
    for pos, i in enumerate(fitted.keep):
        wraps = headers[i] == "selected by"  # wrapped, never cut: every name stays readable
        table.add_column(columns[i].header, no_wrap=not wraps, width=fitted.widths[pos],
                         justify="right" if headers[i] in ("offset", "size") else "left",
                         overflow="fold" if wraps else "ellipsis")
    for n, (r, cell) in enumerate(zip(rows, cells, strict=True)):
        if n in gaps:
            table.add_row(*(Text(f"⋮ {gaps[n]}", style="dim") if headers[i] == "offset"
                            else Text("") for i in fitted.keep))
        style = "red" if r.late else ""
        out: list[Any] = []
        for pos, i in enumerate(fitted.keep):
            name = headers[i]
            if name == "axis":
                out.append(_bar(axis, r.offset, r.late, view.late_after,
                                r.file.upload_time is not None))
            elif name == "offset":
                text = Text("?" if r.offset is None else "+" + format_duration(r.offset),
                            style=style)
                if r.late:
                    text.append(" LATE", style="bold red")
                out.append(text)
            elif name == "selected by":
                out.append(Text(cell[i], style="bold red" if r.late and r.selected_by
                                else "cyan"))
            elif name == "file":
                out.append(Text(fitted.cell(pos, cell[i]), style=style))
            elif name == "sha256":
                out.append(Text(cell[i], style="dim"))
            else:
                out.append(Text(cell[i]))
        table.add_row(*out)
    console.print(table)
    legend = Text("time axis: logarithmic from the first upload (0) to the last "
                  f"(+{format_duration(spread)})", style="dim")
    if view.late_after.total_seconds() < axis.spread:
        legend.append(f"; ┆ marks the {format_duration(view.late_after)} threshold, ◆ a late "
                      "file", style="dim")
    console.print(legend)
    _selection_lines(view, targets, console)


def _selection_lines(view: ReleaseView, targets: Sequence[NamedTarget], console: Any) -> None:
    from rich.text import Text

    rows = view.rows
    here = {r.file.url for r in rows}
    elsewhere = [(n, f) for n, f in view.selection if f is not None and f.url not in here]
    none = [n for n, f in view.selection if f is None]
    current = next((t for t in targets if t.name == "current"), None)
    if current is not None:
        console.print(Text(f"current = {current.description}", style="dim"))
    for name, f in elsewhere:
        console.print(Text(f"{name} selects {f.filename} from {f.source.url}", style="yellow"))
    if none:
        console.print(Text("no file of this release for: " + compress_names(none, targets),
                           style="yellow"))


#: fonts the SVG asks for: the system's own monospace and sans-serif faces
SVG_MONOSPACE = ('ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", '
                 '"Liberation Mono", monospace')
SVG_SANS = "system-ui, -apple-system, \"Segoe UI\", Roboto, \"DejaVu Sans\", sans-serif"


def svg_template() -> str:
    """rich's SVG template, self-contained: without the @font-face rules that load Fira Code
    from a CDN (an SVG must render offline and in viewers that block remote content), with
    the system font stacks instead."""
    import re

    from rich._export_format import CONSOLE_SVG_FORMAT

    template = re.sub(r"\s*@font-face \{\{.*?\}\}", "", CONSOLE_SVG_FORMAT, flags=re.S)
    template = template.replace("font-family: Fira Code, monospace;",
                                f"font-family: {SVG_MONOSPACE};")
    return template.replace("font-family: arial;", f"font-family: {SVG_SANS};")


def draw(views: Sequence[ReleaseView], targets: Sequence[NamedTarget], *, fmt: str,
         width: int | None, stream: IO[str] | None) -> str:
    """Draw to ``stream`` (text to a terminal/pipe) or return text/SVG/HTML."""
    from safeinstall.display import safe_console

    record = fmt in ("svg", "html") or stream is None
    if fmt in ("svg", "html"):
        width = width or 200
    if record:
        console = safe_console(record=True, file=io.StringIO(), width=width or 10_000,
                               force_terminal=fmt in ("svg", "html"), color_system="truecolor",
                               highlight=False, soft_wrap=width is None)
    else:
        assert stream is not None
        console = safe_console(file=stream, highlight=False, soft_wrap=width is None,
                               width=width or 10_000)
    for i, view in enumerate(views):
        if i:
            console.print()
        render_view(view, targets, console, width=width)
    if not record:
        return ""
    title = "safe-install timeline: " + ", ".join(f"{v.project} {v.version}" for v in views)
    if fmt == "svg":
        return str(console.export_svg(title=title, code_format=svg_template()))
    if fmt == "html":
        return str(console.export_html(inline_styles=True))
    return str(console.export_text(styles=False))
