"""Who may call what: wipac-rest-tools' token role mapping, switched on or off by configuration.

Roles: ``user`` (token attribute ``groups`` matching AUTH_USER_GROUPS) reads, POSTs and DELETEs; ``system``
(``skydriver_role=system``) is the scanner and its starters: PATCH manifest, PUT result, read manifests.

A scan's own processes get a *scan token*: SkyDriver mints it at launch (HS512 with SCAN_TOKEN_SECRET, issuer
``SkyDriver``), role ``system`` restricted by the claim ``skydriver_scan_id`` to that one scan, so a scanner can
report only on its own scan. Operators' ``system`` tokens carry no such claim and keep reaching every scan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt
from rest_tools.server import token_attribute_role_mapping_auth
from rest_tools.utils.auth import Auth

from .config import Settings
from .errors import Forbidden

USER = "user"
SYSTEM = "system"
PUBLIC: tuple[str, ...] = ()  # operators' probes (health, readiness; metrics has its own rule)
SCAN_CLAIM = "skydriver_scan_id"  # a token carrying it is valid on that scan's routes only
SCAN_TOKEN_ISSUER = "SkyDriver"
SCAN_TOKEN_LIFETIME = 14 * 24 * 3600  # seconds: longer than any scan runs


def role_mapping(settings: Settings) -> Callable[..., Any] | None:
    """The rest_tools decorator factory for the configured roles; None when auth is off."""
    if not settings.auth_enabled:
        return None
    return token_attribute_role_mapping_auth(
        role_attrs={USER: [f"groups={settings.user_groups_regex}"], SYSTEM: ["skydriver_role=system"]}
    )


def rest_handler_auth_config(settings: Settings) -> dict[str, Any]:
    """The ``auth`` section of rest_tools' RestHandlerSetup config."""
    if not settings.auth_enabled:
        return {}
    if settings.auth_openid_url:
        return {"auth": {"openid_url": settings.auth_openid_url, "audience": settings.auth_audience}}
    return {"auth": {"secret": settings.auth_secret, "algorithm": "HS512"}}


ANYONE = "anyone"  # the role of every request when auth is off, and of PUBLIC routes


def requires(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the roles allowed to call a handler method (none, ``PUBLIC``: anyone); the handler checks them
    (``authorize``) from the headers, before the body."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        method.required_roles = roles  # type: ignore[attr-defined]
        return method

    return decorate


async def authorize(handler: Any, roles: tuple[str, ...]) -> str:
    """Check the request's token (headers only) against ``roles``; return the role it was granted.

    Raises tornado's 403 otherwise. Runs rest_tools' own role check, on a method that does nothing.
    """
    mapping = handler.role_mapping
    if mapping is None or not roles:
        return ANYONE
    await _role_check(mapping, roles)(handler)
    return str(handler.auth_roles[0])


@functools.lru_cache(maxsize=32)
def _role_check(mapping: Callable[..., Any], roles: tuple[str, ...]) -> Callable[..., Any]:
    async def allowed(handler: Any) -> None:
        return None

    return mapping(roles=list(roles))(allowed)  # type: ignore[no-any-return]


def _scan_token_auth(settings: Settings) -> Auth | None:
    key = settings.scan_token_secret or settings.auth_secret
    if not settings.auth_enabled or not key:
        return None
    return Auth(key, issuer=SCAN_TOKEN_ISSUER, algorithm="HS512")


def mints_scan_tokens(settings: Settings) -> bool:
    """Whether SkyDriver can give each scan its own token (auth on and a key to sign it with)."""
    return _scan_token_auth(settings) is not None


def scan_token(settings: Settings, scan_id: str) -> str:
    """The ``system`` token of one scan's processes, valid on that scan only; "" when auth is off."""
    auth = _scan_token_auth(settings)
    if auth is None:
        return ""
    payload = {"skydriver_role": SYSTEM, SCAN_CLAIM: scan_id}
    return str(auth.create_token(f"skyscan-{scan_id}", expiration=SCAN_TOKEN_LIFETIME, payload=payload))


def scan_token_claims(settings: Settings, token: str) -> dict[str, Any] | None:
    """The claims of a valid scan token; None when ``token`` is not one (another issuer's: the caller checks it).

    Raises when it claims to be a scan token and is not valid (bad signature, expired, no scan).
    """
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    auth = _scan_token_auth(settings)
    if issuer != SCAN_TOKEN_ISSUER or auth is None:
        return None
    claims: dict[str, Any] = auth.validate(token, required=[SCAN_CLAIM])
    return claims


def check_scan_scope(claims: Mapping[str, Any], scan_ids: Sequence[str]) -> None:
    """Refuse (403) a scan-scoped token on another scan's routes, or on routes of no scan."""
    scoped = claims.get(SCAN_CLAIM)
    if scoped is None:
        return
    if not scan_ids:
        raise Forbidden(f"this token is scoped to scan {scoped}: it is valid on that scan's routes only")
    for scan_id in scan_ids:
        if scan_id != scoped:
            raise Forbidden(f"this token is scoped to scan {scoped}: it cannot act on scan {scan_id[:80]}")
