"""A store whose every user text is hostile Markdown or HTML, for the "user text is
data" tests: run names, projects, frameworks, metric keys, param and tag keys and
values, notes. Each text must show as typed on every page and fetch nothing.

The external address is TEST-NET-2 (RFC 5737): never routable, so a test that
missed a request would still not reach anyone.
"""

from __future__ import annotations

from trackboard.loggers import Run

EXTERNAL = "198.51.100.7"
HOSTILE = {
    "image": f"![x](http://{EXTERNAL}/image.png)",
    "html": f"<img src=http://{EXTERNAL}/html.png>",
    "bold": "**bold** _it_",
    "math": "$x^2$ and $$y$$",
    "colour": ":red[red] :material/home:",
    "link": f"[link](http://{EXTERNAL}/link)",
}
# Metric keys shaped like glob patterns, aliases and lists: literal names too.
ODD_KEYS = ("acc[0]", "loss[train]", "f1[*]", "top,5", "a|b")


def seed_hostile(url: str) -> dict[str, str]:
    """One run per hostile text (kind -> run id): the text is its name, project,
    framework, notes, a metric key, a param key and value, and a tag key and value;
    the first run has no framework at all (the Runs search once failed on that), the
    second logs the bracketed metric keys."""
    ids: dict[str, str] = {}
    for i, (kind, text) in enumerate(HOSTILE.items()):
        with Run(project=text, name=text, framework=None if i == 0 else text, notes=text,
                 config={text: text, "lr": 0.1 * (i + 1)}, tags={text: text},
                 store=url, system_metrics=False) as run:
            for step in range(3):
                run.log({text: 1.0 + step + i, "loss": 1.0 / (step + 1 + i)}, step=step)
                if i == 1:
                    run.log({k: 0.5 + step for k in ODD_KEYS}, step=step)
        ids[kind] = run.id
    return ids
