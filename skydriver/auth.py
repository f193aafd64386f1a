"""Who may call what: wipac-rest-tools' token role mapping, switched on or off by configuration.

Roles: ``user`` (token attribute ``groups`` matching AUTH_USER_GROUPS) reads, POSTs and DELETEs; ``system``
(``skydriver_role=system``) is the scanner and its starters: PATCH manifest, PUT result, read manifests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rest_tools.server import token_attribute_role_mapping_auth
from rest_tools.utils.auth import Auth

from .config import Settings

USER = "user"
SYSTEM = "system"
PUBLIC: tuple[str, ...] = ()  # operators' probes (health, readiness; metrics has its own rule)


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


def system_token(settings: Settings, scan_id: str) -> str:
    """A ``system`` token for a locally launched scanner (symmetric-secret auth only); "" when auth is off."""
    if not settings.auth_enabled or not settings.auth_secret:
        return ""
    return Auth(settings.auth_secret, algorithm="HS512").create_token(
        f"skyscan-{scan_id}", expiration=14 * 24 * 3600, payload={"skydriver_role": SYSTEM}
    )
