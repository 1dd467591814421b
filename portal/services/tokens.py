"""Secrets derived from the server's key: what a copy of the database alone can never reproduce.

A sign-in link and its code are computed from the secret key, the attempt's id and a random nonce
stored with it. The database keeps the nonce and a keyed hash of the link, the outbox keeps the mail
with placeholders; only the sender, holding the key, fills the link and code in on the way out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

LINK_MARK = "%%SIGN_IN_LINK_TOKEN%%"
CODE_MARK = "%%SIGN_IN_CODE%%"


def keyed_digest(secret: str, *parts: object) -> str:
    """HMAC-SHA256 of the parts under the secret key, as hex."""
    message = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def link_token(secret: str, attempt_id: int, nonce: str) -> str:
    """The token in a sign-in link: 256 bits, URL-safe."""
    raw = hmac.new(secret.encode("utf-8"), f"link-token\x1f{attempt_id}\x1f{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(raw.digest()).rstrip(b"=").decode("ascii")


def link_code(secret: str, attempt_id: int, nonce: str) -> str:
    """The 6-digit code of the same attempt."""
    raw = hmac.new(secret.encode("utf-8"), f"link-code\x1f{attempt_id}\x1f{nonce}".encode(), hashlib.sha256)
    return f"{int.from_bytes(raw.digest()[:8], 'big') % 10**6:06d}"


def fill_in(text: str, token: str, code: str) -> str:
    """Put the link token and the code (grouped as "123 456") where the mail has placeholders."""
    return text.replace(LINK_MARK, token).replace(CODE_MARK, f"{code[:3]} {code[3:]}")
