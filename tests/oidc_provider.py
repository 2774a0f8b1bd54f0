"""A tiny OpenID Connect provider for tests, on 127.0.0.1 in a background thread (no network).

    with FakeOIDCProvider() as idp:
        idp.next_user = {"email": "north.lead@example.org", "name": "North Lead", "groups": []}
        ...  # a browser follows st.login() -> idp.authorize_endpoint -> back to /oauth2callback

It implements the authorization-code flow the way a real provider does, so Streamlit's own `st.login`
(Authlib) runs unchanged against it:

- `/.well-known/openid-configuration`: discovery (issuer, endpoints, RS256, S256 PKCE).
- `/authorize`: auto-approves as `next_user` (whoever the test chose before navigating) and
  redirects straight back to the registered redirect_uri with a one-time code, echoing `state`.
  The `nonce` it received goes into that user's ID token. Unknown client or redirect_uri: 400.
- `/token`: exchanges the code (client secret by HTTP Basic or in the form; PKCE verifier checked)
  for an access token and an RS256 ID token signed with a key generated at start: iss, aud=client_id,
  sub, email, name, groups, nonce, iat, exp, at_hash.
- `/jwks`: the public key. `/userinfo`: the claims, for a valid bearer access token.
- `/logout` (end_session_endpoint): redirects to `post_logout_redirect_uri`.

`requests` records every call (path and query) so tests can assert on what the app sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

TOKEN_LIFETIME = 3600


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class _Grant:
    user: dict[str, Any]
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued: float = field(default_factory=time.time)


class FakeOIDCProvider:
    """An OIDC provider on a free 127.0.0.1 port; use as a context manager (starts and stops it)."""

    def __init__(
        self,
        client_id: str = "clinret-test",
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        # None = accept any redirect_uri on 127.0.0.1/localhost (the app's port is picked later).
        self.redirect_uris = redirect_uris
        self.key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:12], "use": "sig", "alg": "RS256"})
        self.next_user: dict[str, Any] = {"email": "someone@example.org", "name": "Someone"}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.issued_id_tokens: list[dict[str, Any]] = []
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeOIDCProvider:
        provider = self

        class Handler(_Handler):
            idp = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oidc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses
    @property
    def issuer(self) -> str:
        assert self._server is not None, "provider not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "aud", "sub", "email", "name", "groups", "nonce", "iat", "exp"],
        }

    def secrets_toml(self, redirect_uri: str, cookie_secret: str | None = None) -> str:
        """An `[auth]` block for .streamlit/secrets.toml pointing Streamlit at this provider."""
        cookie_secret = cookie_secret or secrets.token_urlsafe(32)
        return (
            "[auth]\n"
            f'redirect_uri = "{redirect_uri}"\n'
            f'cookie_secret = "{cookie_secret}"\n'
            f'client_id = "{self.client_id}"\n'
            f'client_secret = "{self.client_secret}"\n'
            f'server_metadata_url = "{self.metadata_url}"\n'
        )

    # ---------------------------------------------------------------- tokens
    def _claims(self, user: dict[str, Any]) -> dict[str, Any]:
        email = str(user.get("email", ""))
        claims = {"sub": user.get("sub") or hashlib.sha256(email.encode()).hexdigest()[:24], **user}
        claims.setdefault("name", email)
        claims.setdefault("groups", [])
        return claims

    def issue(self, grant: _Grant) -> dict[str, Any]:
        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        claims = self._claims(grant.user)
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        id_claims = {
            **claims,
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "at_hash": _b64url(digest[: len(digest) // 2]),
        }
        if grant.nonce is not None:
            id_claims["nonce"] = grant.nonce
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        id_token = jwt.encode(header, id_claims, self.key)
        with self._lock:
            self._access_tokens[access_token] = claims
            self.issued_id_tokens.append(id_claims)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": id_token,
            "scope": "openid email profile",
        }

    def _redirect_allowed(self, redirect_uri: str) -> bool:
        if self.redirect_uris is not None:
            return redirect_uri in self.redirect_uris
        parsed = urlparse(redirect_uri)
        return parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost")


class _Handler(BaseHTTPRequestHandler):
    idp: FakeOIDCProvider  # set by FakeOIDCProvider.start

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests read `idp.requests` instead

    # ---------------------------------------------------------------- helpers
    def _send_json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, error: str, description: str) -> None:
        self._send_json({"error": error, "error_description": description}, status)

    def _query(self) -> tuple[str, dict[str, str]]:
        parsed = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        self.idp.requests.append((parsed.path, query))
        return parsed.path, query

    # ---------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path, query = self._query()
        idp = self.idp
        if path == "/.well-known/openid-configuration":
            self._send_json(idp.metadata())
        elif path == "/jwks":
            self._send_json({"keys": [idp.key.as_dict(private=False)]})
        elif path == "/authorize":
            self._authorize(query)
        elif path == "/userinfo":
            auth = self.headers.get("Authorization", "")
            claims = (
                idp._access_tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
            )
            if claims is None:
                self._error(401, "invalid_token", "missing or unknown bearer token")
            else:
                self._send_json(claims)
        elif path == "/logout":
            target = query.get("post_logout_redirect_uri")
            if target and idp._redirect_allowed(target):
                self._redirect(target)
            else:
                self._send_json({"signed_out": True})
        else:
            self._error(404, "not_found", path)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path, _ = self._query()
        if path != "/token":
            self._error(404, "not_found", path)
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode("utf-8")).items()}
        self.idp.requests.append(("/token#form", {k: v for k, v in form.items() if k != "client_secret"}))
        self._token(form)

    def _authorize(self, query: dict[str, str]) -> None:
        idp = self.idp
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != idp.client_id or not idp._redirect_allowed(redirect_uri):
            self._error(400, "invalid_request", "unknown client_id or redirect_uri")
            return
        back: dict[str, str] = {}
        if "state" in query:
            back["state"] = query["state"]
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            back.update(error="unsupported_response_type", error_description="code flow with scope openid only")
        else:
            code = secrets.token_urlsafe(24)
            with idp._lock:
                idp._codes[code] = _Grant(
                    user=dict(idp.next_user),
                    client_id=idp.client_id,
                    redirect_uri=redirect_uri,
                    nonce=query.get("nonce"),
                    code_challenge=query.get("code_challenge"),
                    code_challenge_method=query.get("code_challenge_method"),
                )
            back["code"] = code
        separator = "&" if urlparse(redirect_uri).query else "?"
        self._redirect(f"{redirect_uri}{separator}{urlencode(back)}")

    def _client_credentials(self, form: dict[str, str]) -> tuple[str | None, str | None]:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            from urllib.parse import unquote

            raw = base64.b64decode(auth[6:]).decode("utf-8")
            client_id, _, secret = raw.partition(":")
            return unquote(client_id), unquote(secret)
        return form.get("client_id"), form.get("client_secret")

    def _token(self, form: dict[str, str]) -> None:
        idp = self.idp
        client_id, secret = self._client_credentials(form)
        if client_id != idp.client_id or secret != idp.client_secret:
            self._error(401, "invalid_client", "bad client credentials")
            return
        if form.get("grant_type") != "authorization_code":
            self._error(400, "unsupported_grant_type", "authorization_code only")
            return
        with idp._lock:
            grant = idp._codes.pop(form.get("code", ""), None)  # one-time use
        if grant is None or time.time() - grant.issued > 120:
            self._error(400, "invalid_grant", "unknown, used or expired code")
            return
        if form.get("redirect_uri") != grant.redirect_uri:
            self._error(400, "invalid_grant", "redirect_uri does not match the authorization request")
            return
        if grant.code_challenge:
            verifier = form.get("code_verifier", "")
            expected = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
            if grant.code_challenge_method != "S256" or expected != grant.code_challenge:
                self._error(400, "invalid_grant", "PKCE verification failed")
                return
        self._send_json(idp.issue(grant))
