"""The dashboard's settings dependency: the gateway's one :class:`GatewaySettings`, carried by the lifespan.

Its dashboard fields (links to the other components' UIs, the health-check budget) are
:class:`~modelship_gateway.settings.DashboardSettings`; tests override :func:`get_dashboard_settings`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from modelship_gateway.deps import Components, get_components
from modelship_gateway.settings import DashboardSettings


async def get_dashboard_settings(components: Annotated[Components, Depends(get_components)]) -> DashboardSettings:
    """The lifespan's settings (a FastAPI dependency)."""
    return components.settings
