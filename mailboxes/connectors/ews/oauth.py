"""EWS with OAuth2 (Exchange Online, and modern authentication on premises): exchangelib's
client-credentials credentials, with tokens from msal (`connectors/graph/tokens`).

exchangelib's `OAuth2Credentials` asks login.microsoftonline.com for its tokens (the URL is
written into `token_url`), knows only a client secret, and fetches a token per HTTP session.
This subclass hands exchangelib the token msal holds for the profile's application instead:
the profile's authority host (a national cloud, the emulator), a certificate as well as a
secret, and one token per application and worker process, renewed by msal before it
expires. When a session's token has expired, requests-oauthlib raises TokenExpiredError and
exchangelib opens a new session, which reads the renewed token here.

EWS answering 401 to a token (revoked before its expiry) is not a wrong password: the token
is dropped and the request sent once more with a new one, which exchangelib does when
`OAuthFailFast` raises TokenExpiredError (the session is renewed, and with it the token); a
401 to that new token before EWS accepted it is an authentication failure (`tokens.refused`;
once accepted, it is replaced like any other if it is revoked in its turn).

Its HTTP sessions follow the rule of msal's (`tokens.http_session`): no proxy or CA bundle
from the environment, certificates checked against `CRMSYNC_MICROSOFT_CA_BUNDLE` when set
(`MicrosoftProtocol`, made for every OAuth2 configuration before exchangelib makes a plain
one). An on-premises server with modern authentication whose certificate an internal CA
signed needs that CA in the bundle.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from exchangelib import Configuration
from exchangelib.credentials import OAuth2Credentials
from exchangelib.protocol import Protocol
from oauthlib.oauth2 import OAuth2Token, TokenExpiredError

from mailboxes.connectors.ews.errors import FailFastWithHints
from mailboxes.connectors.graph import tokens
from mailboxes.connectors.settings import AppCredentials


class AppTokenCredentials(OAuth2Credentials):
    """App-only OAuth2 credentials whose token comes from msal (see the module docstring)."""

    def __init__(self, app: AppCredentials, scope: str, timeout: float) -> None:
        self.app = app
        self.oauth_scope = scope
        self.timeout = timeout
        # No client secret for exchangelib: it must never fetch or refresh a token itself.
        super().__init__(client_id=app.client_id, client_secret="", tenant_id=app.tenant_id)

    @property
    def token_url(self) -> str:
        return self.app.token_url

    @property
    def scope(self) -> list[str]:
        return [self.oauth_scope]

    @property
    def access_token(self) -> OAuth2Token:
        token, expires_in = tokens.access_token_and_lifetime(
            self.app, self.oauth_scope, timeout=self.timeout
        )
        return OAuth2Token(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "expires_at": time.time() + expires_in,
            }
        )

    @access_token.setter
    def access_token(self, value: Any) -> None:
        """exchangelib stores the tokens it fetched or drops them; msal keeps ours."""

    def _identity(self) -> tuple[Any, ...]:
        return (self.app.cache_key, self.oauth_scope, self.timeout)

    # exchangelib caches its protocol (session pool) by endpoint and credentials, and hashes
    # credentials by their attributes: its `client`, cached on first use, would change the
    # hash, and every later account would get a new pool (without `MicrosoftProtocol`).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, AppTokenCredentials) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"AppTokenCredentials({self.app.client_id!r}, {self.oauth_scope!r})"


class MicrosoftProtocol(Protocol):
    """exchangelib's protocol (session pool) of an OAuth2 configuration, whose sessions check
    certificates as msal's do (see the module docstring)."""

    @classmethod
    def raw_session(
        cls,
        prefix: str,
        oauth2_client: Any = None,
        oauth2_session_params: Any = None,
        oauth2_token_endpoint: Any = None,
    ) -> Any:
        return tokens.microsoft_tls(
            super().raw_session(
                prefix,
                oauth2_client=oauth2_client,
                oauth2_session_params=oauth2_session_params,
                oauth2_token_endpoint=oauth2_token_endpoint,
            )
        )


def microsoft_protocol(config: Configuration) -> MicrosoftProtocol:
    """The configuration's protocol, made as a `MicrosoftProtocol`: exchangelib caches one
    protocol per endpoint and credentials, so the `Account` made next finds this one."""
    protocol = MicrosoftProtocol(config=config)
    if not isinstance(protocol, MicrosoftProtocol):  # a plain one was made first
        protocol.close()
        del Protocol[config]
        protocol = MicrosoftProtocol(config=config)
    return protocol


class OAuthFailFast(FailFastWithHints):
    """The retry policy of an OAuth2 configuration: a refused token is replaced once (see
    the module docstring)."""

    def __init__(self, app: AppCredentials) -> None:
        super().__init__()
        self.app = app

    def raise_response_errors(self, response: requests.Response) -> None:
        scheme, _, token = str(response.request.headers.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token:
            pass
        elif response.status_code == 401:
            if tokens.refused(self.app, token):
                raise TokenExpiredError(description="EWS refused the access token")
        elif response.status_code < 400:
            tokens.accepted(token)
        super().raise_response_errors(response)
