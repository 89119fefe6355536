"""Access tokens for a logged-in user (``IMS_AUTH_FLOW=authorization_code``), and logging out.

Kept apart from :mod:`sync.api.auth` (the server-to-server provider and the bearer auth):
this is the user-login side, whose refresh token is the long-lived credential that
``accs-sync login`` stores, renewals rotate, and ``accs-sync logout`` revokes at IMS.
"""

from __future__ import annotations

import logging

from sync.api.auth import AccessToken, ImsClientCredentials
from sync.api.ims import TokenAnswer
from sync.api.token_store import FileTokenStore, StoredToken
from sync.errors import LoginRequired

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
