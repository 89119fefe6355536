"""Access tokens for a logged-in user (``IMS_AUTH_FLOW=authorization_code``), and logging out.

Kept apart from :mod:`sync.api.auth` (the server-to-server provider and the bearer auth):
this is the user-login side, whose refresh token is the long-lived credential that
``accs-sync login`` stores, renewals rotate, and ``accs-sync logout`` revokes at IMS.
"""

from __future__ import annotations

import logging
from functools import partial

import requests

from sync.api.auth import AccessToken, ImsClientCredentials
from sync.api.classify import raise_for_network
from sync.api.ims import TokenAnswer, check_revoke_answer
from sync.api.retry import RetryPolicy
from sync.api.token_store import FileTokenStore, StoredToken
from sync.errors import LoginRequired
from sync.redact import redact_url

__all__ = ["ImsRefreshTokens"]

log = logging.getLogger(__name__)


class ImsRefreshTokens(ImsClientCredentials):
    """Access tokens for a logged-in user (``IMS_AUTH_FLOW=authorization_code``).

    ``accs-sync login`` stores a refresh token in the token store; this renews access tokens
    with ``grant_type=refresh_token`` and stores the rotated refresh token IMS answers with.
    A missing, expired or revoked refresh token is :class:`~sync.errors.LoginRequired`.
    """

    flow = "authorization_code"

    def _renew(self, stored: StoredToken | None) -> AccessToken:
        if stored is None or not stored.refresh_token:
            raise LoginRequired(
                "no stored login for this client: run `accs-sync login` first "
                "(IMS_AUTH_FLOW=authorization_code needs it; the token cache must be enabled)"
            )
        refresh_token = stored.refresh_token
        if isinstance(self.store, FileTokenStore):
            # IMS rotates the refresh token it is sent: the new one must have somewhere to go.
            self.store.require_key("the rotated refresh token")
        try:
            answer = self.with_secret(
                lambda secret: self._post(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "client_id": self._client_id,
                        "client_secret": secret,
                    },
                    "refresh_token",
                )
            )
        except LoginRequired:
            self.store.drop_refresh_token(self._key, stored.refresh_token)
            raise
        token = self._remember(answer, stored)
        self.audit.count("token_refreshes")
        self.audit.event("mint", "refresh_token", self._clock.now())
        log.info(
            "renewed the IMS access token with the stored refresh token (valid %.0fs%s)",
            token.expires_in,
            ", refresh token rotated" if answer.refresh_token else "",
        )
        return token

    def store_login(self, answer: TokenAnswer) -> None:
        """Keep what ``accs-sync login`` obtained (the refresh token is required)."""
        if not answer.refresh_token:
            raise LoginRequired(
                "IMS answered the login without a refresh token: add the offline_access scope "
                "to IMS_SCOPES and run `accs-sync login` again"
            )
        with self._lock, self.store.locked():
            self._token = self._remember(answer, None)
        self.mints += 1
        self.audit.count("token_mints")
        encrypted = isinstance(self.store, FileTokenStore) and self.store.encrypted
        self.audit.event(
            "login",
            "refresh token stored (encrypted)" if encrypted else "refresh token stored",
            self._clock.now(),
        )

    def logout(self, revoke_url: str, retry: RetryPolicy) -> list[str]:
        """Revoke the stored login at IMS (``revoke_url``), then delete it from the cache;
        the kinds of token revoked, longest-lived first (none: there was no stored login).

        The refresh token goes first: it is the long-lived one. A failed revocation raises and
        deletes nothing, so ``accs-sync logout`` can be run again; a token IMS no longer knows
        is revoked as far as IMS is concerned (RFC 7009 answers 200)."""
        with self._lock, self.store.locked():
            stored = self.store.load(self._key)
            now = self._now()
            live = stored is not None and stored.expires_at > now
            pending = {
                "refresh_token": stored.refresh_token if stored else None,
                "access_token": stored.access_token if stored and live else None,
            }
            revoked = []
            for kind, value in pending.items():
                if value:
                    retry.call(partial(self._revoke, revoke_url, value, kind))
                    revoked.append(kind)
                    self.audit.event("revocation", kind, self._clock.now())
                    log.info("IMS revoked the stored %s", kind)
            if stored is not None:
                self.store.forget(self._key)
            self._token = None
        if revoked:
            what = " and ".join(k.split("_")[0] for k in revoked)
            what += " tokens" if len(revoked) > 1 else " token"
            self.audit.event(
                "logout",
                f"{what} revoked at IMS, deleted from the cache",
                self._clock.now(),
            )
        return revoked

    def _revoke(self, url: str, token: str, kind: str) -> None:
        def post(secret: str) -> None:
            try:
                response = self._session.post(
                    url,
                    data={"token": token, "token_type": kind, "client_id": self._client_id},
                    auth=(self._client_id, secret),  # a web app credential: HTTP Basic
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                raise raise_for_network(exc, url, setting="IMS_REVOKE_URL") from None
            check_revoke_answer(response, redact_url(url), kind)

        self.with_secret(post)
