"""Compare page: the selected runs side by side, one chart per metric."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from trackboard.dashboard import (
    auth,
    charts,
    colors,
    data,
    grouping,
    hparams,
    labels,
    media_section,
    metric_choice,
    param_diff,
    run_list,
    state,
    tables,
)
from trackboard.dashboard.smoothing import smooth  # noqa: F401  (re-exported for readers)

auth.require_password()  # also here: a page may run without app.py
src = data.source()
st.title("Compare")
run_ids, unknown = data.resolve_runs(src.url, src.read_only, tuple(state.selected_runs()))
for problem in unknown:  # a link's id that names no run, or a prefix of several
    st.warning(tables.md_escape(problem))
if not run_ids:
    st.info("No runs selected. Pick some on the Runs page, or open a link such as "
            "`/compare?runs=<id>,<id>`.")
    st.page_link("views/runs.py", label="Go to Runs")
    st.stop()

info = data.runs_info(src.url, src.read_only, tuple(run_ids))
if info.empty:
    st.warning("None of the selected runs exist in this store.")
    st.stop()
run_ids = [r for r in run_ids if r in set(info["id"])]
info = info.set_index("id", drop=False).loc[run_ids].reset_index(drop=True)  # selection order
running = set(info.loc[info["status"] == "running", "id"])
available = data.all_keys(src.url, src.read_only, tuple(run_ids))
# Every metric, in the order people decide by (validation, then loss-like, ...): the
# same rule as the Runs page's columns and the hyperparameter view (metric_choice.py).
default_metrics = state.join_list([k for k in metric_choice.decision_order(available)
                                   if metric_choice.is_metric(k)])
group_options = grouping.options(info)  # framework, status, project, params.*, tags.*
x_options = list(charts.X_AXES) + [k for k in available]

state.init_widget("cmp_metrics", "metrics", default_metrics, str)
state.init_widget("cmp_x", "x", "step", lambda r: state.parse_choice(r, x_options, "step"))
state.init_widget("cmp_logy", "logy", False, lambda r: r in ("1", "true"))
state.init_widget("cmp_smooth", "smooth", "ema",
                  lambda r: state.parse_choice(r, ["ema", "moving average", "none"], "ema"))
state.init_widget("cmp_weight", "w", 0.6, lambda r: state.parse_float(r, 0.6, 0.0, 0.99))
state.init_widget("cmp_window", "win", 5, lambda r: int(state.parse_float(r, 5, 1, 501)))
state.init_widget("cmp_group", "group", "(none)", lambda r: grouping.parse(r, group_options))
state.init_widget("cmp_band", "band", "std",
                  lambda r: state.parse_choice(r, ["std", "minmax"], "std"))
state.init_widget("cmp_live", "live", True, lambda r: r not in ("0", "false"))
state.init_widget("cmp_range", "range", "", str)
state.init_widget("cmp_cols", "cols", 2, lambda r: int(state.parse_choice(r, ["1", "2", "3"], "2")))
state.init_widget("cmp_label", "label", "", str)
run_list.init_hidden()
if st.session_state["cmp_x"] not in x_options:
    st.session_state["cmp_x"] = "step"
if st.session_state["cmp_group"] not in group_options:
    st.warning(tables.md_escape(f"Cannot group by {st.session_state['cmp_group']!r}: no selected "
                                "run has it. Showing runs ungrouped."))
    st.session_state["cmp_group"] = "(none)"

with st.container(border=True):
    a, b, c, d = st.columns([4, 2, 2, 2])
    a.text_input("Metrics", key="cmp_metrics",
                 help="Comma-separated names or patterns: `loss, val_*`. Merge differently "
                      "named keys into one chart with |: `val_loss|eval_loss`.")
    b.selectbox("x axis", x_options, key="cmp_x")
    c.radio("Smoothing", ["ema", "moving average", "none"], key="cmp_smooth", horizontal=True)
    if st.session_state["cmp_smooth"] == "ema":
        d.slider("EMA weight", 0.0, 0.99, step=0.01, key="cmp_weight")
    elif st.session_state["cmp_smooth"] == "moving average":
        d.number_input("Window (points)", 1, 501, step=2, key="cmp_window")
    e, f, g, _ = st.columns([2, 2, 2, 4])
    e.selectbox("Group by", group_options, key="cmp_group")
    f.radio("Band", ["std", "minmax"], key="cmp_band", horizontal=True,
            format_func=lambda b: "mean ± std" if b == "std" else "min–max")
    g.checkbox("Log y", key="cmp_logy")
    g.toggle("Live", key="cmp_live", help="Refresh running runs every 5 s.")
    i, j = st.columns([2, 8])
    i.radio("Charts per row", [1, 2, 3], key="cmp_cols", horizontal=True)
    j.text_input("Run labels", key="cmp_label",
                 placeholder="empty: the name and the params that differ, e.g. "
                             "{name} {params.lr} {tags.seed}",
                 help="A template: `{name}`, `{id}`, `{project}`, `{framework}`, `{status}`, "
                      "`{host}`, `{params.<key>}`, `{tags.<key>}`. Empty: the name plus "
                      "the params whose values differ between the selected runs.")

state.remember(["cmp_metrics", "cmp_x", "cmp_logy", "cmp_smooth", "cmp_weight", "cmp_window",
                "cmp_group", "cmp_band", "cmp_live", "cmp_range", "cmp_cols", "cmp_label"])
state.write_query({
    "runs": ",".join(run_ids), "metrics": st.session_state["cmp_metrics"] or None,
    "x": None if st.session_state["cmp_x"] == "step" else st.session_state["cmp_x"],
    "logy": "1" if st.session_state["cmp_logy"] else None,
    "smooth": None if st.session_state["cmp_smooth"] == "ema" else st.session_state["cmp_smooth"],
    "w": None if st.session_state["cmp_weight"] == 0.6 else str(st.session_state["cmp_weight"]),
    "win": None if st.session_state["cmp_window"] == 5 else str(st.session_state["cmp_window"]),
    "group": None if st.session_state["cmp_group"] == "(none)" else st.session_state["cmp_group"],
    "band": None if st.session_state["cmp_band"] == "std" else st.session_state["cmp_band"],
    "live": None if st.session_state["cmp_live"] else "0",
    "range": st.session_state["cmp_range"] or None,
    "cols": None if st.session_state["cmp_cols"] == 2 else str(st.session_state["cmp_cols"]),
    "label": st.session_state["cmp_label"] or None,
})


def parse_range(text: str, warn: bool = True) -> tuple[int | None, int | None] | None:
    text = text.strip()
    if not text:
        return None
    lo, sep, hi = text.partition("-")
    try:
        return (int(lo) if lo.strip() else None, int(hi) if sep and hi.strip() else None)
    except ValueError:
        if warn:
            st.warning(tables.md_escape(f"Step range {text!r} is not like 1000-2000; "
                                        "showing all steps."))
        return None


chart_list = data.resolve_metrics(state.split_list(st.session_state["cmp_metrics"]), available)
chart_list = [(t, ks) for t, ks in chart_list if any(k in available for k in ks)]
x_axis = st.session_state["cmp_x"]
wanted = sorted({k for _, ks in chart_list for k in ks if k in available}
                | ({x_axis} if x_axis not in charts.X_AXES else set()))
groups = grouping.run_groups(info, st.session_state["cmp_group"])


def is_live(step_range: tuple[int | None, int | None] | None) -> bool:
    """Whether the charts refresh: Live is on, a run is running and the range is open."""
    return (st.session_state["cmp_live"] and bool(running)
            and (step_range is None or step_range[1] is None))


def read_budget(step_range: tuple[int | None, int | None] | None) -> int:
    """Points per series. Coarser when many runs share a chart (50 runs: 240 each), so
    the page draws in about the time 10 runs took. A step range shares out a chart's
    whole budget (12,000 points: 1 run 12,000, 12 runs 1,000, 50 runs 240): a range
    that fits is read at full resolution, a longer one in finer stretches than the
    whole run. Read whole, 50 runs x 1,001 steps drew 400,000 points in WebGL: 22-50 s
    a change without a GPU."""
    return charts.points_per_series(
        len(run_ids), data.MAX_POINTS if step_range is None else charts.CHART_POINTS)


live = is_live(parse_range(st.session_state["cmp_range"], warn=False))

# Labels say what tells the runs apart. Colours go to the selection in a stable order
# (oldest run first; grouped: the group labels), each the farthest from those taken,
# so a run keeps its colour in any order, after a reload and while others are hidden.
template = st.session_state["cmp_label"]
for field in labels.template_problems(template, list(info.columns)):
    st.warning(tables.md_escape(f"No selected run has {{{field}}}: it shows empty."))
# A run's one name on this page (run list, hovers, param table, summary, hparams).
run_labels = labels.run_labels(info, template)
started = dict(zip(info["id"], (t.timestamp() if pd.notna(t) else None
                                for t in info["created_at"])))
styles = (colors.styles(groups.values()) if groups else colors.styles(run_ids, started))
run_styles = {rid: styles[groups[rid]] for rid in run_ids} if groups else styles
visible = run_list.show(info, run_labels, run_styles, groups)
state.write_query({"hide": ",".join(st.session_state[run_list.HIDDEN]) or None})
colours = {rid: s.colour for rid, s in run_styles.items()}
dashes = {rid: s.dash for rid, s in run_styles.items()}
chart_height = {1: 420, 2: 360, 3: 320}[st.session_state["cmp_cols"]]


def load_history(step_range: tuple[int | None, int | None] | None, max_points: int
                 ) -> pd.DataFrame:
    """The cached downsampled history plus, for running runs, the points since."""
    signature = (tuple(run_ids), tuple(wanted), max_points, step_range)
    tails = st.session_state.setdefault("_cmp_tail", {})
    gen = st.session_state.setdefault("_cmp_generation", 0)
    base = data.history(src.url, src.read_only, tuple(run_ids), tuple(wanted), max_points,
                        step_range, gen)
    if not live:
        return base
    tail = tails.get(signature)
    frame = base if tail is None else pd.concat([base, tail], ignore_index=True)
    live_rows = frame[frame["run_id"].isin(running)]
    after = int(live_rows["step"].max()) if not live_rows.empty else -1
    # Only the points after the last step shown: each tick reads a few rows.
    new = data.history_tail(sorted(running), wanted, after)
    if not new.empty:
        tail = new if tail is None else pd.concat([tail, new], ignore_index=True)
        if len(tail) > (max_points or data.MAX_POINTS) * max(1, len(running)):
            # The tail outgrew the downsampled base: read everything afresh once.
            st.session_state["_cmp_generation"] = gen + 1
            tails.pop(signature, None)
            return data.history(src.url, src.read_only, tuple(run_ids), tuple(wanted),
                                max_points, step_range, gen + 1)
        tails[signature] = tail
        frame = pd.concat([base, tail], ignore_index=True)
    return frame


@st.fragment(run_every=5 if live else None)
def draw_charts() -> None:
    # The step range lives in the charts' fragment: a new range redraws the charts
    # only, not the run list, the tables and the hyperparameter view (issue 19).
    box, _ = st.columns([3, 7])
    box.text_input("Step range", key="cmp_range", placeholder="e.g. 1000-2000 (empty: all)",
                   help="A range that the chart can hold is read at full resolution.")
    state.remember(["cmp_range"])
    state.write_query({"range": st.session_state["cmp_range"] or None})
    step_range = parse_range(st.session_state["cmp_range"])
    if is_live(step_range) != live:
        st.rerun()  # the range starts or stops the live refresh: the page decides it
    hist = load_history(step_range, read_budget(step_range))
    x_values = hist[hist["key"] == x_axis] if x_axis not in charts.X_AXES else None
    if not chart_list:
        st.info(tables.md_escape("No metric matches. Available: " + ", ".join(available)))
        return
    if not visible:
        st.info("Every run is hidden: tick some in the run list above.")
        return
    per_row = st.session_state["cmp_cols"]
    cols = st.columns(per_row)
    hist = hist[hist["run_id"].isin(visible)]
    for i, (title, keys) in enumerate(chart_list):
        part = data.merge_aliases(hist, keys)
        fig = charts.metric_figure(
            charts.with_x(part, x_axis, x_values), title,
            names={r: run_labels[r] for r in visible}, colours=colours, dashes=dashes,
            x=x_axis, log_y=st.session_state["cmp_logy"],
            smoothing=st.session_state["cmp_smooth"], weight=st.session_state["cmp_weight"],
            window=int(st.session_state["cmp_window"]), groups=groups,
            band=st.session_state["cmp_band"], height=chart_height)
        with cols[i % per_row]:
            st.plotly_chart(fig, key=f"cmp_chart_{i}", width="stretch",
                            config={"displaylogo": False})
    if live:
        st.caption(f"Live: {len(running)} running run(s), refreshing every 5 s.")


draw_charts()
# Distributions, histograms, images and texts of the runs shown (dashboard/media_section.py).
media_section.show(visible, {r: run_labels[r] for r in visible}, colours, page="cmp")

param_diff.show(info, run_labels)  # common params first, then per framework

st.subheader("Summary")
summaries = data.summaries_by_run(src.url, src.read_only, tuple(visible),
                                  tuple(dict.fromkeys(k for _, ks in chart_list for k in ks)))
st.dataframe(tables.readable_numbers(  # numbers as on the Run page and in the CLI
    tables.summary_table({rid: summaries.get(rid, {}) for rid in visible}, chart_list,
                         run_labels),
    ["last", "min", "max", "best"]), key="cmp_summary", hide_index=True, width="stretch")

# Parallel coordinates + param-vs-metric scatter of the runs shown (dashboard/hparams.py).
hparams.show(info, visible, run_labels, colours, available)
