"""FastAPI dependencies and their ``Annotated`` aliases; the objects live in the lifespan state (see app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from modelship_gateway.prediction_service import PredictionService
from modelship_gateway.prediction_store import PredictionStore
from modelship_gateway.settings import GatewaySettings
from modelship_scoring.inventory import ModelInventory


@dataclass(frozen=True)
class Components:
    """Everything the routes need, built once per application lifespan."""

    settings: GatewaySettings
    store: PredictionStore
    inventory: ModelInventory
    predictions: PredictionService


# The accessors are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop for
# what is an attribute read. The session stays a plain generator: opening and closing it may block.
async def get_components(request: Request) -> Components:
    return request.state.components


def get_session(components: Annotated[Components, Depends(get_components)]) -> Iterator[Session]:
    with components.store.sessions() as session:
        yield session


async def get_service(components: Annotated[Components, Depends(get_components)]) -> PredictionService:
    return components.predictions


async def get_inventory(components: Annotated[Components, Depends(get_components)]) -> ModelInventory:
    return components.inventory


async def get_store(components: Annotated[Components, Depends(get_components)]) -> PredictionStore:
    return components.store


async def get_gateway_settings(components: Annotated[Components, Depends(get_components)]) -> GatewaySettings:
    return components.settings


SessionDep = Annotated[Session, Depends(get_session)]
ServiceDep = Annotated[PredictionService, Depends(get_service)]
InventoryDep = Annotated[ModelInventory, Depends(get_inventory)]
StoreDep = Annotated[PredictionStore, Depends(get_store)]
SettingsDep = Annotated[GatewaySettings, Depends(get_gateway_settings)]
