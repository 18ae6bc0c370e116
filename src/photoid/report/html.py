"""One self-contained HTML page: sections of text, tables, figures and photo galleries, with
every image inlined as base64 and a click-to-zoom viewer in plain CSS/JS (no CDN)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photoid.files import write_atomic

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.6em}
p.note{color:#555}.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.4em .8em}
.ok{background:#e8f5e9;border-left:4px solid #43a047;padding:.4em .8em}
figure{margin:.8em 0}figure img.plot{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.row{display:flex;gap:6px;align-items:flex-start;margin:6px 0;flex-wrap:wrap}
.cell{width:150px;font-size:.75em;text-align:center;word-break:break-all}
.cell img{width:146px;height:146px;object-fit:contain;background:#f4f4f4;cursor:zoom-in;
border:2px solid #ddd}.cell.query img{border-color:#1565c0}.cell.right img{border-color:#2e7d32;
border-width:4px}.cell.wrong img{border-color:#ddd}.cell.new div.box{width:146px;height:146px;
display:flex;align-items:center;justify-content:center;background:#fafafa;border:2px dashed #aaa}
.tag{font-weight:bold}.right .tag{color:#2e7d32}
#zoom{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);z-index:9;cursor:zoom-out}
#zoom img{max-width:95vw;max-height:90vh;position:absolute;top:50%;left:50%;
transform:translate(-50%,-50%)}#zoom div{color:#fff;position:absolute;bottom:1em;width:100%;
text-align:center}
"""
_SCRIPT = """
document.addEventListener('click',function(e){var z=document.getElementById('zoom');
if(e.target.classList.contains('zoomable')){z.querySelector('img').src=e.target.dataset.full||
e.target.src;z.querySelector('div').textContent=e.target.title||'';z.style.display='block';}
else if(z.contains(e.target)){z.style.display='none';}});
document.addEventListener('keydown',function(e){if(e.key==='Escape')
document.getElementById('zoom').style.display='none';});
"""


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def esc(text: object) -> str:
    return html.escape(str(text))


@dataclass(frozen=True)
class Tile:
    """One photo of a gallery row: ``image`` (JPEG bytes; None draws an empty box, e.g. for
    ``new_individual``), the ``caption`` under it, and ``kind``: ``"query"``, ``"right"``,
    ``"wrong"`` or ``"new"``. ``full``: a larger JPEG shown when the photo is zoomed."""

    image: bytes | None
    caption: str
    kind: str = "wrong"
    full: bytes | None = None


@dataclass
class Page:
    """An HTML page built section by section, then :meth:`write` n."""

    title: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{esc(text)}</h2>")

    def text(self, text: str, css: str = "note") -> None:
        self.parts.append(f'<p class="{css}">{esc(text)}</p>')

    def verdicts(self, warnings: Sequence[str], fine: str) -> None:
        """Plain-word warnings, or ``fine`` when there are none."""
        if not warnings:
            self.text(fine, "ok")
        for w in warnings:
            self.text(w, "warn")

    def figure(self, png: bytes, caption: str, name: str) -> None:
        uri = data_uri(png, "image/png")
        self.parts.append(
            f'<figure data-name="{esc(name)}"><img class="plot zoomable" alt="{esc(name)}" '
            f'title="{esc(caption)}" src="{uri}"><figcaption>{esc(caption)}</figcaption></figure>'
        )

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def gallery_row(self, tiles: Sequence[Tile], css: str = "match") -> None:
        cells = []
        for t in tiles:
            if t.image is None:
                inner = f'<div class="box">{esc(t.caption)}</div>'
            else:
                full = f' data-full="{data_uri(t.full, "image/jpeg")}"' if t.full else ""
                inner = (
                    f'<img class="photo zoomable" alt="{esc(t.caption)}" title="{esc(t.caption)}"'
                    f' src="{data_uri(t.image, "image/jpeg")}"{full}>'
                )
            tag = {"query": "query", "right": "✓ right", "new": ""}.get(t.kind, "")
            cells.append(
                f'<div class="cell {t.kind}">{inner}<div><span class="tag">{tag}</span> '
                f"{esc(t.caption)}</div></div>"
            )
        self.parts.append(f'<div class="row {css}">' + "".join(cells) + "</div>")

    def render(self) -> str:
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{esc(self.title)}</h1>" + "\n".join(self.parts) + '<div id="zoom"><img alt="">'
            f"<div></div></div><script>{_SCRIPT}</script></body></html>"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, self.render())


def jpeg(image, max_side: int) -> bytes:
    """``image`` (PIL) shrunk to ``max_side`` pixels on its longer side, as JPEG bytes."""
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=82)
    return buf.getvalue()
