"""The summaries that describe a run in its exported event file: its params as an
HParams session (start and end info) and its notes and tags as text.

TensorBoard's HParams plugin makes every run that holds a session a row of its
table, and answers for all rows at once: one row it cannot build fails the tab for
every run. So a session is written only for a run that has params, and only when
the plugin can read the run's steps: it reports each metric's last step as an
int32 (`MetricValue.training_step`), and a run whose steps reach 2**31 would make
that fail (`hparams_session`).
"""

from __future__ import annotations

import json
from typing import Any

from trackboard.storage.interchange.tensorboard.format import NOTES_TAG, TAGS_TAG

#: The largest step TensorBoard's HParams plugin can report (an int32 field).
HPARAMS_MAX_STEP = 2**31 - 1


def hparams_session(info: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether a run (Store.run's dict) gets an HParams session, and why not when it
    has params but cannot: (write it, a note for the export's summary).

    >>> hparams_session({"params": {}, "metrics": {}})
    (False, None)
    >>> hparams_session({"params": {"lr": 0.1}, "metrics": {"loss": {"last_step": 9}}})
    (True, None)
    >>> ok, note = hparams_session({"params": {"lr": 1}, "metrics": {"x": {"last_step": 2**31}}})
    >>> ok, note[:26]
    (False, 'its steps reach 2147483648')
    """
    if not info.get("params"):
        return False, None
    last = max((int(m["last_step"]) for m in info.get("metrics", {}).values()
                if m.get("last_step") is not None), default=0)
    if last > HPARAMS_MAX_STEP:
        return False, (f"its steps reach {last}, beyond the {HPARAMS_MAX_STEP} TensorBoard's "
                       "HParams tab can show: its params are left out of that tab (the "
                       "scalars are all there)")
    return True, None


def hparams_start(params: dict[str, Any], trial: str, created: float) -> Any:
    """The HParams session-start Summary: the run's params, its run directory as trial."""
    from tensorboard.plugins.hparams import summary_v2

    # Each run is its own session group (trial id = run directory): TensorBoard would
    # otherwise merge runs with identical params into one averaged row.
    return summary_v2.hparams_pb({k: _hparam_value(v) for k, v in params.items()},
                                 trial_id=trial, start_time_secs=created)


def hparams_end(status: str, ended: float | None) -> Any:
    """The HParams session-end Summary for a run's status; None while it runs."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    # TensorBoard knows success and failure only: a killed or crashed run did not finish.
    codes = {"finished": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE,
             "killed": api_pb2.STATUS_FAILURE, "crashed": api_pb2.STATUS_FAILURE}
    if status not in codes:  # still running: no end info, as a live TensorFlow job
        return None
    info = plugin_data_pb2.SessionEndInfo(status=codes[status], end_time_secs=ended or 0.0)
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG, tensor=metadata.NULL_TENSOR,
                      metadata=metadata.create_summary_metadata(
                          plugin_data_pb2.HParamsPluginData(session_end_info=info)))
    return summary


def _hparam_value(value: Any) -> bool | float | int | str:
    """HParams hold bools, numbers and strings; anything else goes in as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def run_texts(info: dict[str, Any]) -> dict[str, str]:
    """Text tag -> text of a run (Store.run's dict): its notes, and its tags as a
    markdown table (imported_run.py reads the table back).

    >>> run_texts({"notes": "first try", "tags": {"seed": "3"}})
    {'trackboard/notes': 'first try', 'trackboard/tags': '| tag | value |\\n|---|---|\\n| seed | 3 |'}
    """
    out = {}
    notes = info.get("notes")
    if isinstance(notes, str) and notes:
        out[NOTES_TAG] = notes
    if info["tags"]:
        rows = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in info["tags"].items())
        out[TAGS_TAG] = "| tag | value |\n|---|---|\n" + rows
    return out


def text_summary(tag: str, text: str) -> Any:
    """A text plugin Summary, as tf.summary.text writes it."""
    from tensorboard.plugins.text import summary_v2

    return summary_v2.text_pb(tag, text)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
