"""Optional login. Nothing else is drawn before it succeeds (:func:`gate` stops the script).

* OIDC (``st.login``) when Streamlit's ``[auth]`` section exists in ``.streamlit/secrets.toml``;
  ``dashboard.auth.oidc_provider`` names a provider sub-section if you have several.
* Otherwise a shared password from the variable ``dashboard.auth.password_env``
  (``EHM_DASHBOARD_PASSWORD``) when it is set; people also give their name, which actions record.
* Otherwise the dashboard is open — unless ``dashboard.auth.required`` is true, then it refuses.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

from monitors.ui.config import AuthConfig

USER_KEY = "ehm_user"


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _oidc(cfg: AuthConfig) -> str:
    user = st.user
    if not user.get("is_logged_in", False):
        st.title("Event Health Monitor")
        st.write("Sign in to continue.")
        st.button("Log in with SSO", type="primary", on_click=st.login, args=[cfg.oidc_provider] if cfg.oidc_provider else [])
        st.stop()
    return str(user.get("email") or user.get("name") or "signed-in user")


def _password(secret: str) -> str:
    if st.session_state.get(USER_KEY):
        return str(st.session_state[USER_KEY])
    st.title("Event Health Monitor")
    with st.form("login"):
        name = st.text_input("Your name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if name.strip() and hmac.compare_digest(password.encode(), secret.encode()):
            st.session_state[USER_KEY] = name.strip()
            st.rerun()
        st.error("Wrong password, or no name given.")
    st.stop()
    raise AssertionError("unreachable")  # pragma: no cover - st.stop() raises


def gate(cfg: AuthConfig) -> str | None:
    """The signed-in user's name (None when the dashboard is open to all); stops otherwise."""
    if _oidc_configured():
        return _oidc(cfg)
    secret = os.environ.get(cfg.password_env, "")
    if secret:
        return _password(secret)
    if cfg.required:
        st.error(f"Login is required but not configured: set {cfg.password_env} or add [auth] to secrets.toml.")
        st.stop()
    return None


def logout_button() -> None:
    """A sidebar button that ends the session (OIDC logout or forgetting the password login)."""
    if _oidc_configured() and st.user.get("is_logged_in", False):
        st.sidebar.button("Log out", on_click=st.logout)
    elif st.session_state.get(USER_KEY):
        st.sidebar.button("Log out", on_click=lambda: st.session_state.pop(USER_KEY, None))
