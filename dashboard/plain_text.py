"""User text shown as typed: the one place that knows how Streamlit and Plotly read text.

Anything a user logged (run names, projects, frameworks, metric, param and tag keys
and values, notes, statuses) and anything a link carries is data, never markup. The
pages show it in three ways:

- plain elements (`st.text`, `st.code`, `st.dataframe`, `st.data_editor`, the
  options of `st.selectbox` / `st.multiselect`): nothing to do, they show text;
- Streamlit markdown (`st.markdown`, `st.caption`, `st.info` / `warning` / `error` /
  `success`, and the labels and `help` of widgets, expanders, tabs, radio options
  and metrics): through `markdown()`;
- Plotly text (titles, trace names, hover text, tick labels, annotations), which
  reads a subset of HTML (`<b>`, `<a href>`, `<br>`): through `html()`.

Why `markdown()` does more than escape Markdown: Streamlit's renderer adds GitHub
autolinks (`http://...`, `www.`, `a@b.org` become links even inside escaped text),
`:material/icon:` icons (replaced before any escape is read), emoji shortcodes,
`:red[colour]` directives and `$LaTeX$`. In Streamlit 1.67 a backslash before each
character that can start markup keeps all of them literal except the autolinks, which a
zero-width space inside the address breaks without changing what the reader sees.
The text is also made one line: a line break could start a heading or a list.
"""

from __future__ import annotations

import html as _html
import re

# The characters that can start markup in CommonMark, GitHub's extensions and
# Streamlit's (`:red[x]`, `:material/icon:`, emoji shortcodes, `$math$`). Any ASCII
# punctuation may be backslash-escaped and then always shows as itself; the others
# (`,` `;` `'` `"` `@` `%` `?` `=` `^`) mean nothing on one line and stay as they are.
MARKUP = "\\`*_{}[]()#+-.!<>|~$&:/"
_MARKUP = re.compile(f"([{re.escape(MARKUP)}])")
# The starts of GitHub's autolink literals (mdast-util-gfm-autolink-literal): a
# scheme, "www." and the "@" of an address. They are found in the text after
# escapes are read, so a zero-width space goes inside them instead.
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?=@)")
ZERO_WIDTH_SPACE = "\u200b"
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")


def markdown(text: object) -> str:
    r"""`text` for any place Streamlit renders Markdown, shown exactly as typed on
    one line (line breaks and other control characters become a space).

    >>> markdown("**bold** ![x](http://example.org/x.png) :red[x] $x$")
    '\\*\\*bold\\*\\* \\!\\[x\\]\\(http\u200b\\:\\/\\/example\\.org\\/x\\.png\\) \\:red\\[x\\] \\$x\\$'
    >>> markdown("loss\n# not a heading")
    'loss \\# not a heading'
    """
    line = _LINE_BREAKS.sub(" ", str(text)).strip()
    return _MARKUP.sub(r"\\\1", _AUTOLINK.sub(ZERO_WIDTH_SPACE, line))


def html(text: object) -> str:
    """`text` for Plotly's labels, titles and hover text (they read a subset of HTML).

    >>> html("<img src=x onerror=alert(1)> & <b>")
    '&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;'
    """
    return _html.escape(str(text), quote=False)
