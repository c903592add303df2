"""Run ids and resume modes: which run a new Run continues, and how to check it.

An id comes from the caller, else $TRACKBOARD_RUN_ID (set by a job scheduler
or a restarting launcher), else a new random one; the resume mode says what to
do when a run with that id exists or does not (Run's docstring).
"""

from __future__ import annotations

import os
import re

RUN_ID_ENV = "TRACKBOARD_RUN_ID"
RESUME_MODES = ("allow", "must", "never")
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def run_id_and_mode(run_id: str | None, resume: str | None) -> tuple[str | None, str | None]:
    """The run id (argument, else $TRACKBOARD_RUN_ID, else None: a new random one)
    and the resume mode to check it with (None: nothing to look up).

    >>> run_id_and_mode("exp-1", None)
    ('exp-1', 'allow')
    >>> run_id_and_mode(None, "must")
    Traceback (most recent call last):
    ...
    ValueError: resume='must' needs the id of the run to continue: pass id=... or set $TRACKBOARD_RUN_ID
    """
    if resume is not None and resume not in RESUME_MODES:
        raise ValueError(f"resume={resume!r}: use 'allow', 'must' or 'never'")
    if run_id is None:
        run_id = os.environ.get(RUN_ID_ENV, "").strip() or None
        source = f"${RUN_ID_ENV}"
    else:
        source = "id"
    if run_id is None:
        if resume == "must":
            raise ValueError("resume='must' needs the id of the run to continue: pass id=... "
                             f"or set ${RUN_ID_ENV}")
        return None, None  # a new random id cannot exist yet
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise ValueError(f"{source} {run_id!r} is not a valid run id: use 1-32 characters "
                         "of letters, digits, '_', '.' and '-', e.g. 'resnet-seed3'")
    return run_id, resume or "allow"
