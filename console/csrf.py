"""CSRF tokens for the console's forms: an HMAC of what the form is bound to.

Signed-in forms are bound to the session id, so a token is useless in another session; the
sign-in form is bound to a random pre-session cookie, so a third-party site cannot sign an agent
in to an account of its choosing. Nothing is stored: the token is recomputed to check it.
"""

import hashlib
import hmac
import secrets

FIELD = "csrf_token"
PRESESSION_COOKIE = "console_presession"


def token_for(secret: str, binding: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def token_is_valid(secret: str, binding: str | None, sent: object) -> bool:
    if not binding or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(token_for(secret, binding), sent)


def new_presession() -> str:
    return secrets.token_urlsafe(24)
