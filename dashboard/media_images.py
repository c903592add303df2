"""Image rows as HTML (pure, no Streamlit): one row per run, its images at one step.

Why HTML with `data:` URLs and not `st.image`: Streamlit serves `st.image` bytes from
its `/media/<id>` endpoint to any client that has the address, without asking which
session it belongs to (streamlit/web/server/starlette/starlette_routes.py,
`create_media_routes`), so an address copied from a signed-in browser, a proxy log or
a shared screen would give the image to someone without the password. Inlined, the
bytes travel only inside the page's own websocket messages, after the password.
Streamlit's `st.html` sanitises the markup (DOMPurify), which keeps `data:` images.

Small images (MNIST's 28 x 28) are drawn larger with sharp pixels, as TensorBoard
does, by a whole factor (at most 8); captions are shown as typed (HTML-escaped, line
breaks kept). A strip shows in order; past `MAX_STRIP` images or the byte budget of a
card, the rest are counted, not sent.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from trackboard.dashboard.media_charts import safe_colour

MIME = {"webp": "image/webp", "png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}
# An image is drawn at least this big (its longer side, in CSS pixels) when a whole
# factor of at most MAX_ZOOM gets it there.
SMALL_SIDE = 112
MAX_ZOOM = 8
# Images of one run's strip sent at most, and bytes per card (every run's row of one
# key): a strip of 1,000 or ten 16 MiB images would stall the browser.
MAX_STRIP = 24
CARD_BYTES = 24 * 1024 * 1024


@dataclass(frozen=True)
class Shown:
    """One image of a row: its data URL (None when it is not sent), stored size and caption."""

    src: str | None
    width: int
    height: int
    caption: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RunRow:
    """One run's row: its label and colour, the step shown (None: nothing logged) and
    the images of that step's strip."""

    label: str
    colour: str
    step: int | None
    images: Sequence[Shown] = field(default_factory=tuple)
    left_out: int = 0


def data_url(data: bytes, fmt: str) -> str:
    """An encoded image file as a `data:` URL.

    >>> data_url(b"RIFF", "webp")
    'data:image/webp;base64,UklGRg=='
    """
    if fmt not in MIME:
        raise ValueError(f"image format {fmt!r}: expected one of {', '.join(MIME)}")
    return f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"


def zoom(width: int, height: int) -> int:
    """The whole factor an image is drawn at: small ones larger, sharp.

    >>> zoom(28, 28), zoom(64, 32), zoom(120, 80), zoom(4, 2), zoom(0, 0)
    (4, 1, 1, 8, 1)
    """
    side = max(width, height)
    if side <= 0:
        return 1
    return max(1, min(MAX_ZOOM, SMALL_SIDE // side))


def within_budget(strips: Sequence[Sequence[int]], budget: int = CARD_BYTES,
                  most: int = MAX_STRIP) -> list[list[bool]]:
    """Which images are sent, per run's strip (in order, their encoded sizes): at most
    `most` of each strip, while the card's running total stays within `budget`; one
    image too big is skipped, not the ones after it.

    >>> within_budget([[10, 10, 100, 10]], budget=40, most=3)
    [[True, True, False, True]]
    >>> within_budget([[1, 1, 1], [1, 1]], most=2)
    [[True, True, False], [True, True]]
    """
    out, used = [], 0
    for sizes in strips:
        sent, marks = 0, []
        for size in sizes:
            ok = sent < most and used + size <= budget
            marks.append(ok)
            if ok:
                used += size
                sent += 1
        out.append(marks)
    return out


def rows_html(rows: Sequence[RunRow], wanted: int | None = None) -> str:
    """The HTML of one key's rows. `wanted` is the slider's step: a run showing
    another step (its nearest) says which.

    >>> out = rows_html([RunRow("<b>r</b>", "#1CA71C", 10, [Shown("data:image/png;base64,AA", 28, 28, "a <i>")])], 12)
    >>> "&lt;b&gt;r&lt;/b&gt;" in out and "a &lt;i&gt;" in out and "step 10 (nearest to 12)" in out
    True
    >>> 'width="112"' in out and "pixelated" in out
    True
    """
    parts = ['<div class="trackboard-images">']
    for row in rows:
        if row.step is None:
            where = "no image logged"
        elif wanted is not None and row.step != wanted:
            where = f"step {row.step} (nearest to {wanted})"
        else:
            where = f"step {row.step}"
        parts.append(
            '<div class="trackboard-image-row" style="display:flex;gap:14px;align-items:'
            'flex-start;padding:8px 0;border-top:1px solid rgba(128,128,128,0.25)">'
            '<div style="flex:0 0 190px;font-size:0.85rem;overflow-wrap:anywhere">'
            f'<span style="color:{safe_colour(row.colour)}">■</span> {_text(row.label)}'
            f'<br><span style="opacity:0.65">{where}</span></div>'
            '<div style="display:flex;flex-wrap:wrap;gap:10px;min-width:0">')
        for image in row.images:
            parts.append(_figure(image))
        if row.left_out:
            parts.append(f'<div style="opacity:0.65;font-size:0.85rem">{row.left_out} more '
                         "not shown</div>")
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def _figure(image: Shown) -> str:
    factor = zoom(image.width, image.height)
    w, h = image.width * factor, image.height * factor
    caption = ("" if image.caption is None else
               '<figcaption style="font-size:0.8rem;white-space:pre-wrap;overflow-wrap:anywhere;'
               f'max-width:{max(w, 80)}px">{_text(image.caption)}</figcaption>')
    if image.src is None:
        body = (f'<div style="width:{min(w, 240)}px;font-size:0.8rem;opacity:0.65">'
                f'{_text(image.note)}</div>')
    else:
        rendering = "pixelated" if factor > 1 else "auto"
        body = (f'<img src="{html.escape(image.src)}" width="{w}" height="{h}" alt="" '
                f'style="image-rendering:{rendering};max-width:100%;height:auto;'
                'background:repeating-conic-gradient(#ccc 0 25%, #fff 0 50%) 0 0/16px 16px">')
    return f'<figure style="margin:0">{body}{caption}</figure>'


def _text(text: str) -> str:
    """User text for HTML: escaped, shown as typed."""
    return html.escape(str(text), quote=True)
