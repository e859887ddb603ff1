"""The analyst dashboard: page usefulness, consent and errors, behind a login.

``create_dashboard(store, database=…, password=…, secret_keys=…)`` returns a Starlette
app to serve alone (``consentlog dashboard``) or to mount
(``Mount("/analytics", app=create_dashboard(..., prefix="/analytics"))``). See
``docs/dashboard.md``.
"""

from consentlog.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
