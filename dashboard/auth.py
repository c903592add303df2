"""Optional shared password for the dashboard ($TRACKBOARD_PASSWORD)."""

from __future__ import annotations

import hmac
import os

import streamlit as st

PASSWORD_ENV = "TRACKBOARD_PASSWORD"


def password_ok(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not leak the password.

    >>> password_ok("s3cret", "s3cret"), password_ok("guess", "s3cret")
    (True, False)
    """
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def signed_in() -> bool:
    """True when no password is set, or this browser session has given it."""
    return not os.environ.get(PASSWORD_ENV) or bool(st.session_state.get("auth_ok"))


def require_password() -> None:
    """Show a login form and stop the page until the shared password is given.

    Every page calls this first, not only app.py, so that no way of running a page
    file (AppTest, a future `pages/` folder Streamlit would run on its own, see
    serve.py) shows anything before the password.
    """
    expected = os.environ.get(PASSWORD_ENV)
    if not expected or st.session_state.get("auth_ok"):
        return
    st.title("trackboard")
    with st.form("auth_form"):
        given = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_ok(given or "", expected):
            st.session_state["auth_ok"] = True
            st.session_state.pop("auth_password", None)
            st.rerun()
        st.error("Wrong password.")
    st.stop()
