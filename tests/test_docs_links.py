"""No link in README.md or docs/ leaves the repository, and every link lands.

A reader of a checkout (or of the package's source) must be able to follow every link:
relative links resolve to files of the repository (and to a heading there, for
`#anchors`); the only web addresses are the servers trackboard itself starts on the
reader's machine (127.0.0.1).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Written by other branches of the same round; required once they have landed.
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"``.+?``|`[^`]+`", re.DOTALL)  # a span may wrap a line
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>|(https?://[^\s)>\]]+)")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def prose(text: str) -> str:
    """The text a reader sees as prose: no fenced blocks, no code spans.

    >>> prose("a `[x](http://y)` b `` `c` `` d\\n```\\n[z](q)\\n```\\n")
    'a  b  d\\n\\n'
    """
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links(text: str) -> list[str]:
    """Every link target in the prose of a markdown text.

    >>> links("see [it](docs/a.md#b), <https://x.org> and http://127.0.0.1:8501 `[n](o)`")
    ['docs/a.md#b', 'https://x.org', 'http://127.0.0.1:8501']
    """
    return [next(g for g in m.groups() if g) for m in LINK.finditer(prose(text))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading.

    >>> slug("Read-only mode and password"), slug("Try it: `trackboard demo`")
    ('read-only-mode-and-password', 'try-it-trackboard-demo')
    """
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_stays_in_the_repository_and_lands(doc: Path) -> None:
    found = links(doc.read_text())
    for target in found:
        where = f"{doc.relative_to(ROOT)} links to {target}"
        if target.startswith(("http://", "https://")):
            host = re.sub(r"^https?://", "", target).split("/")[0].split(":")[0]
            assert host in LOCAL_HOSTS, f"{where}: a link that leaves the repository"
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        assert dest.is_relative_to(ROOT), f"{where}: outside the repository"
        rel = dest.relative_to(ROOT).as_posix()
        assert dest.exists(), f"{where}: no such file"
        if anchor:
            assert anchor in anchors(dest), f"{where}: no heading #{anchor} in {rel}"


def test_the_readme_links_every_doc_and_stays_small() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = {t.partition("#")[0] for t in links(readme)}
    for doc in DOCS[1:]:
        assert doc.relative_to(ROOT).as_posix() in targets, f"README does not link {doc.name}"
    assert len(readme.encode()) <= 15_000, "the README is a front door: details go to docs/"
