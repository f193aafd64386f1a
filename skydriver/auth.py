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


def requires(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Allow a handler method to the given roles (checked only when auth is on); no roles (``PUBLIC``): anyone."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        if not roles:
            return method
        checked: dict[int, Callable[..., Any]] = {}

        @functools.wraps(method)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            mapping = self.role_mapping
            if mapping is None:
                return await method(self, *args, **kwargs)
            guarded = checked.get(id(mapping))
            if guarded is None:
                guarded = checked[id(mapping)] = mapping(roles=list(roles))(method)
            return await guarded(self, *args, **kwargs)

        return wrapper

    return decorate


def system_token(settings: Settings, scan_id: str) -> str:
    """A ``system`` token for a locally launched scanner (symmetric-secret auth only); "" when auth is off."""
    if not settings.auth_enabled or not settings.auth_secret:
        return ""
    return Auth(settings.auth_secret, algorithm="HS512").create_token(
        f"skyscan-{scan_id}", expiration=14 * 24 * 3600, payload={"skydriver_role": SYSTEM}
    )
