"""``/api/models``: the served models, and predictions by one of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Header, UploadFile

from modelship_gateway.deps import InventoryDep, ServiceDep, SettingsDep
from modelship_gateway.errors import PayloadTooLarge
from modelship_gateway.prediction_service import PredictionResult
from modelship_gateway.schemas import ErrorBody, ModelOut, PredictRequest, PredictResponse

router = APIRouter(prefix="/api/models", tags=["models"])

RequestIdHeader = Annotated[
    str | None,
    Header(alias="X-Request-ID", description="Optional id of this request (1-64 characters); replays are stored once."),
]

_PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No served model has this name."},
    422: {"model": ErrorBody, "description": "The rows do not fit the penguins schema."},
    502: {"model": ErrorBody, "description": "The model server failed or could not be reached."},
}
_IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The file is not a decodable PNG, JPEG or GIF image."},
    404: {"model": ErrorBody, "description": "No served model has this name."},
    413: {"model": ErrorBody, "description": "The file is larger than the upload limit."},
    502: {"model": ErrorBody, "description": "The model server failed or could not be reached."},
}


def _response(result: PredictionResult) -> PredictResponse:
    return PredictResponse.model_validate(result, from_attributes=True)


@router.get("", response_model=list[ModelOut], summary="List the served models")
async def list_models(inventory: InventoryDep) -> list[ModelOut]:
    """Every model discovered right now, with the version its server runs, readiness, classes and test metrics."""
    return [ModelOut.model_validate(m, from_attributes=True) for m in await inventory.list_models()]


@router.post("/{name}/predict", response_model=PredictResponse, responses=_PREDICT_ERRORS, summary="Score rows")
async def predict(name: str, body: PredictRequest, service: ServiceDep, request_id: RequestIdHeader = None) -> Any:
    """Score penguins rows with model ``name`` (through its server's inference protocol) and store the result."""
    return _response(await service.predict_rows(name, body.instances, request_id=request_id))


@router.post("/{name}/predict-image", response_model=PredictResponse, responses=_IMAGE_ERRORS, summary="Score an image")
async def predict_image(
    name: str,
    file: Annotated[UploadFile, File(description="A PNG, JPEG or GIF image of a handwritten digit.")],
    service: ServiceDep,
    settings: SettingsDep,
    request_id: RequestIdHeader = None,
) -> Any:
    """Score one uploaded image with model ``name`` and store the result."""
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"upload is larger than the limit of {settings.max_upload_bytes} bytes")
    result = await service.predict_image(
        name, data, filename=file.filename, content_type=file.content_type, request_id=request_id
    )
    return _response(result)
