"""The media section of the Run and Compare pages: Distributions, Histograms, Images
and Texts of the runs shown, side by side (docs/media.md#in-the-dashboard).

A page calls `show(run_ids, names, colours, page=...)` once, after its charts: the
section reads only what its one chosen view draws, and says nothing when the runs
logged no media. Every choice is in the link (`media`, `mkeys`, `dmode`, `hmode`,
`hstep`, `istep`), like the rest of the page. Figures come from media_charts.py,
image rows from media_images.py, which keys and steps from media_pick.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st
from trackboard.dashboard import data, media_charts, plain_text, state
from trackboard.dashboard.media_images import RunRow, Shown, data_url, rows_html, within_budget
from trackboard.dashboard.media_pick import (
    MAX_KEYS,
    VIEW_KIND,
    VIEWS,
    format_key_steps,
    key_groups,
    nearest_steps,
    parse_key_steps,
    pick_keys,
    slider_stride,
    text_table,
    union_steps,
)

TITLES = {"distributions": "Distributions", "histograms": "Histograms", "images": "Images",
          "texts": "Texts"}
# Distributions: one panel per run up to this many runs, all runs in one panel beyond
# (the default; the link or the radio can ask for either).
PANELS_UP_TO = 12
_PLOT_CONFIG = {"displaylogo": False}


def show(run_ids: Sequence[str], names: Mapping[str, str], colours: Mapping[str, str], *,
         page: str) -> None:
    """The section for `run_ids` (in order; `names` and `colours` as on the page's
    other charts). `page` prefixes the widget keys ("cmp", "run")."""
    src = data.source()
    listed = data.media_keys(src.url, src.read_only, tuple(run_ids))
    if listed.empty:
        return
    views = [v for v in VIEWS if VIEW_KIND[v] in set(listed["kind"])]
    many = len(run_ids) > PANELS_UP_TO
    k = {name: f"{page}_{name}" for name in ("media", "mkeys", "dmode", "hmode")}
    state.init_widget(k["media"], "media", views[0],
                      lambda r: state.parse_choice(r, views, views[0]))
    state.init_widget(k["mkeys"], "mkeys", "", str)
    state.init_widget(k["dmode"], "dmode", "overlay" if many else "runs",
                      lambda r: state.parse_choice(r, ["runs", "overlay"], "runs"))
    state.init_widget(k["hmode"], "hmode", "offset",
                      lambda r: state.parse_choice(r, ["offset", "overlay"], "offset"))
    if st.session_state[k["media"]] not in views:
        st.session_state[k["media"]] = views[0]

    st.subheader("Histograms, distributions, images")
    a, b, c = st.columns([5, 4, 3])
    a.radio("View", views, key=k["media"], horizontal=True, format_func=TITLES.__getitem__)
    b.text_input("Keys", key=k["mkeys"], placeholder="all; or names and patterns: weights/*",
                 help="Comma-separated keys or patterns (`weights/*, samples`).")
    view = st.session_state[k["media"]]
    if view == "distributions" and len(run_ids) > 1:
        c.radio("Runs", ["runs", "overlay"], key=k["dmode"], horizontal=True,
                format_func=lambda m: "side by side" if m == "runs" else "overlaid")
    elif view == "histograms":
        c.radio("Mode", ["offset", "overlay"], key=k["hmode"], horizontal=True)
    state.remember(list(k.values()))
    state.write_query({
        "media": None if view == views[0] else view,
        "mkeys": st.session_state[k["mkeys"]] or None,
        "dmode": None if st.session_state[k["dmode"]] == ("overlay" if many else "runs")
        else st.session_state[k["dmode"]],
        "hmode": None if st.session_state[k["hmode"]] == "offset" else "overlay"})

    kind = VIEW_KIND[view]
    available = list(dict.fromkeys(listed.loc[listed["kind"] == kind, "key"]))
    chosen = pick_keys(state.split_list(st.session_state[k["mkeys"]]), available)
    if not chosen:
        st.info(plain_text.markdown("No key matches. Available: " + ", ".join(available)))
        return
    if len(chosen) > MAX_KEYS:
        st.info(f"Showing the first {MAX_KEYS} of {len(chosen)} keys: narrow them with Keys.")
        chosen = chosen[:MAX_KEYS]
    ids = tuple(run_ids)
    mode = st.session_state[k["dmode"] if view == "distributions" else k["hmode"]]
    # One run (the Run page): its charts two to a row; runs side by side fill the width.
    pairs = len(ids) == 1 and view in ("distributions", "histograms")
    steps_param = {"histograms": "hstep", "images": "istep"}.get(view)
    picked: dict[str, int] = {}
    for g, (group, keys) in enumerate(key_groups(chosen)):
        box = st.expander(plain_text.markdown(group), expanded=True) if group else st.container()
        with box:
            cells = st.columns(2) if pairs else [st.container()]
            for i, key in enumerate(keys):
                with cells[i % len(cells)]:
                    slot = f"{page}_{view}_{g}_{i}"
                    if view == "texts":
                        _texts(ids, key, names, slot)
                    elif view == "distributions":
                        _distribution(ids, key, names, colours, mode, slot)
                    elif view == "histograms" and mode == "offset":
                        _ridge(ids, key, names, colours, slot)
                    else:
                        chosen_step = _step_slider(page, steps_param or "", key, ids,
                                                   VIEW_KIND[view])
                        if chosen_step is not None:
                            wanted, picks = chosen_step
                            picked[key] = wanted
                            draw = _overlay if view == "histograms" else _images
                            draw(key, names, colours, picks, wanted, slot)
    if steps_param:
        # A key's step goes in the link only when it is not the key's last (the default).
        last = _last_steps(page, steps_param)
        state.write_query({steps_param: format_key_steps(
            {key: s for key, s in picked.items() if s != last.get(key)}) or None})


def _distribution(ids: tuple[str, ...], key: str, names: Mapping[str, str],
                  colours: Mapping[str, str], mode: str, slot: str) -> None:
    src = data.source()
    frame = data.distributions(src.url, src.read_only, ids, key)
    fig = media_charts.distribution_figure(frame, key, names=names, colours=colours,
                                           mode=mode, per_row=_per_row(len(ids)),
                                           panel_height=_panel_height(len(ids)))
    st.plotly_chart(fig, key=slot, width="stretch", config=_PLOT_CONFIG)


def _ridge(ids: tuple[str, ...], key: str, names: Mapping[str, str],
           colours: Mapping[str, str], slot: str) -> None:
    src = data.source()
    frame = data.histograms(src.url, src.read_only, ids, key, media_charts.ridge_steps(len(ids)))
    fig = media_charts.ridge_figure(frame, key, names=names, colours=colours,
                                    per_row=_per_row(len(ids)),
                                    panel_height=_panel_height(len(ids)) + 60)
    st.plotly_chart(fig, key=slot, width="stretch", config=_PLOT_CONFIG)
    _nonfinite_note(frame, names)


def _overlay(key: str, names: Mapping[str, str], colours: Mapping[str, str],
             picks: dict[str, int], wanted: int, slot: str) -> None:
    src = data.source()
    frame = data.histograms_at(src.url, src.read_only, tuple(picks.items()), key)
    fig = media_charts.overlay_figure(frame, key, names=names, colours=colours)
    st.plotly_chart(fig, key=slot, width="stretch", config=_PLOT_CONFIG)
    _nonfinite_note(frame, names)


def _images(key: str, names: Mapping[str, str], colours: Mapping[str, str],
            picks: dict[str, int], wanted: int, slot: str) -> None:
    src = data.source()
    frame = data.images_at(src.url, src.read_only, tuple(picks.items()), key)
    strips = [frame[frame["run_id"] == rid] for rid in names]
    rows = []
    for rid, strip, sent in zip(names, strips, within_budget([s["size"].tolist()
                                                               for s in strips])):
        shown = []
        for row in (r for r, ok in zip(strip.itertuples(index=False), sent) if ok):
            raw = data.image_file(src.url, src.read_only, row.hash)
            shown.append(Shown(None if raw is None else data_url(raw, row.format),
                               int(row.width), int(row.height), row.caption,
                               "" if raw is not None else "image file missing"))
        rows.append(RunRow(names[rid], colours[rid], picks.get(rid), shown,
                           left_out=sent.count(False)))
    with st.container(key=slot):
        st.html(rows_html(rows, wanted))


def _texts(ids: tuple[str, ...], key: str, names: Mapping[str, str], slot: str) -> None:
    src = data.source()
    frame = data.texts(src.url, src.read_only, ids, (key,))
    st.markdown(f"**{plain_text.markdown(key)}**")
    st.dataframe(text_table(frame, names), key=slot, hide_index=True, width="stretch")


def _step_slider(page: str, param: str, key: str, ids: tuple[str, ...], kind: str
                 ) -> tuple[int, dict[str, int]] | None:
    """A step slider for `key` over every step the runs logged it at (labelled with
    the key); returns the slider's step and each run's logged step nearest to it, or
    None when no run has the key."""
    src = data.source()
    by_run = data.media_steps(src.url, src.read_only, ids, key, kind)
    steps = union_steps(by_run)
    if not steps:
        return None
    last = _last_steps(page, param)
    previous, last[key] = last.get(key), steps[-1]
    if len(steps) == 1:
        st.markdown(f"**{plain_text.markdown(key)}** · step {steps[0]}")
        return steps[0], nearest_steps(by_run, steps[0])
    stride = slider_stride(steps)
    widget = f"{page}_{param}_{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"
    state.init_widget(widget, param, steps[-1],
                      lambda raw: parse_key_steps(raw).get(key, steps[-1]))
    if st.session_state[widget] == previous:
        # At the last step before: stay at the last one as a running run logs more.
        st.session_state[widget] = steps[-1]
    # A step from a link or an earlier selection, put on this key's range and stride.
    value = min(max(int(st.session_state[widget]), steps[0]), steps[-1])
    st.session_state[widget] = steps[0] + round((value - steps[0]) / stride) * stride
    st.slider(plain_text.markdown(key), steps[0], steps[-1], step=stride, key=widget,
              help="The step to show: each run shows its logged step nearest to it.")
    state.remember([widget])
    wanted = int(st.session_state[widget])
    return wanted, nearest_steps(by_run, wanted)


def _last_steps(page: str, param: str) -> dict[str, int]:
    """Each drawn key's last step (the slider's default, left out of the link)."""
    return st.session_state.setdefault(f"_{page}_{param}_last", {})


def _nonfinite_note(frame: pd.DataFrame, names: Mapping[str, str]) -> None:
    bad = media_charts.nonfinite_steps(frame)
    if bad:
        st.caption(plain_text.markdown("NaN or ±inf values, counted apart and not drawn: "
                                       + "; ".join(f"{names.get(r, r)}: {n} step(s)"
                                                   for r, n in bad.items())))


def _per_row(runs: int) -> int:
    return 1 if runs == 1 else min(runs, 4)


def _panel_height(runs: int) -> int:
    return 260 if runs <= 2 else 200
