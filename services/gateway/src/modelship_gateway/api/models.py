"""``/api/models``: the served models, and predictions by one of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Header, UploadFile

from modelship_gateway.api.openapi import DATABASE_DOWN, INVALID_REQUEST, NO_MODEL, ROUTER_DEFAULTS, errors
from modelship_gateway.deps import InventoryDep, ServiceDep, SettingsDep
from modelship_gateway.errors import PayloadTooLarge
from modelship_gateway.prediction_service import MAX_REQUEST_ID_LENGTH, PredictionResult
from modelship_gateway.schemas import ModelOut, PredictRequest, PredictResponse

router = APIRouter(prefix="/api/models", tags=["models"], **ROUTER_DEFAULTS)

#: 1-64 printable ASCII characters, no space first or last (a header value loses those on the way).
REQUEST_ID_PATTERN = rf"^[!-~](?:[ -~]{{0,{MAX_REQUEST_ID_LENGTH - 2}}}[!-~])?$"

RequestIdHeader = Annotated[
    str | None,
    Header(
        alias="X-Request-ID",
        pattern=REQUEST_ID_PATTERN,
        description=f"Optional id of this request (1-{MAX_REQUEST_ID_LENGTH} printable ASCII characters); "
        "replays are stored once.",
    ),
]

#: What a model server's rejection is answered with; it relays the server's own message.
_REJECTED = "The model server rejected the input (its message relayed), e.g. rows sent to an image model."
_MODEL_SERVER_DOWN = "The model server failed, could not be reached or answered something unusable."
_UNAVAILABLE = f"{DATABASE_DOWN} The prediction is not stored; or the served models cannot be listed right now."

_LIST_ERRORS = errors({503: "The served models cannot be listed right now (e.g. Kubernetes API unreachable)."})
_PREDICT_ERRORS = errors(
    {
        400: _REJECTED,
        404: NO_MODEL,
        422: f"{INVALID_REQUEST} Rows that do not fit the penguins schema are answered so too.",
        502: _MODEL_SERVER_DOWN,
        503: _UNAVAILABLE,
    }
)
_IMAGE_ERRORS = errors(
    {
        400: f"The file is not a decodable PNG, JPEG or GIF image. {_REJECTED}",
        404: NO_MODEL,
        413: "The file is larger than the upload limit.",
        422: INVALID_REQUEST,
        502: _MODEL_SERVER_DOWN,
        503: _UNAVAILABLE,
    }
)
#: The upload's media types, for clients and generators of test data (FastAPI names only the form field).
IMAGE_MEDIA_TYPES = "image/png, image/jpeg, image/gif"
IMAGE_FORM: dict[str, Any] = {
    "requestBody": {"content": {"multipart/form-data": {"encoding": {"file": {"contentType": IMAGE_MEDIA_TYPES}}}}}
}


def _response(result: PredictionResult) -> PredictResponse:
    return PredictResponse.model_validate(result, from_attributes=True)


@router.get("", response_model=list[ModelOut], responses=_LIST_ERRORS, summary="List the served models")
async def list_models(inventory: InventoryDep) -> list[ModelOut]:
    """Every model discovered right now, with the version its server runs, readiness, classes and test metrics."""
    return [ModelOut.model_validate(m, from_attributes=True) for m in await inventory.list_models()]


@router.post("/{name}/predict", response_model=PredictResponse, responses=_PREDICT_ERRORS, summary="Score rows")
async def predict(name: str, body: PredictRequest, service: ServiceDep, request_id: RequestIdHeader = None) -> Any:
    """Score penguins rows with model ``name`` (through its server's inference protocol) and store the result."""
    return _response(await service.predict_rows(name, body.instances, request_id=request_id))


@router.post(
    "/{name}/predict-image",
    response_model=PredictResponse,
    responses=_IMAGE_ERRORS,
    openapi_extra=IMAGE_FORM,
    summary="Score an image",
)
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
