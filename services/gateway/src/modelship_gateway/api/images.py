"""``/api/images``: upload an image for every image model (202), read it back with its predictions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from modelship_common.db import Image, Prediction
from modelship_common.errors import ModelNotFound
from modelship_common.storage import ObjectNotFound, StorageError
from modelship_gateway.api.models import IMAGE_FORM
from modelship_gateway.api.openapi import DATABASE_DOWN, INVALID_REQUEST, ROUTER_DEFAULTS, errors
from modelship_gateway.deps import SessionDep
from modelship_gateway.errors import PayloadTooLarge, StoreUnavailable
from modelship_gateway.schemas import MAX_OFFSET, PredictionOut, UtcDateTime
from modelship_gateway.uploads.pipeline import ImagePipeline

router = APIRouter(prefix="/api/images", tags=["images"], **ROUTER_DEFAULTS)

#: An image's ``status``: uploaded (queued), processed (every image model answered) or failed (see ``error``).
ImageStatus = Literal["uploaded", "processed", "failed"]


async def get_pipeline(request: Request) -> ImagePipeline:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    return request.state.images


PipelineDep = Annotated[ImagePipeline, Depends(get_pipeline)]


class ImageAccepted(BaseModel):
    id: str = Field(description="Id of the stored image; its predictions carry it as request_id.")
    status: str = Field(description="uploaded: queued for every image model.")
    size_bytes: int
    sha256: str
    url: str = Field(description="Where to read the image and its predictions.")


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: UtcDateTime
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str
    status: ImageStatus = Field(description="uploaded, processed (every image model answered) or failed (see error).")
    error: str | None = Field(description="Why the image failed, else null.")
    source: str


class ImageDetail(ImageOut):
    predictions: list[PredictionOut] = Field(description="One per image model version, by model name.")


_UPLOAD_ERRORS = errors(
    {
        400: "The file is not a decodable PNG, JPEG or GIF image.",
        413: "The file is larger than the upload limit.",
        422: INVALID_REQUEST,
        503: "Object storage, the database or Kafka is unavailable.",
    }
)
_LIST_ERRORS = errors({422: INVALID_REQUEST, 503: DATABASE_DOWN})
_IMAGE_ERRORS = errors({404: "No such image.", 422: "The image id is not a UUID.", 503: DATABASE_DOWN})
_CONTENT_ERRORS = errors(
    {
        404: "No such image, or its file is gone from object storage.",
        422: "The image id is not a UUID.",
        503: "The database or object storage cannot be reached.",
    }
)
_IMAGE_MEDIA = ("image/png", "image/jpeg", "image/gif")


#: An uploader's name: short, and plain enough for every database (PostgreSQL text cannot hold a NUL).
SOURCE_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
#: The images table's filename column holds this many characters.
MAX_FILENAME = 255


def stored_filename(filename: str | None) -> str:
    """The client's file name as the images table can hold it: without NULs (PostgreSQL refuses them, which was
    answered as a 503) and cut to the column's length. It is only shown, never used as a path."""
    return (filename or "").replace("\x00", "")[:MAX_FILENAME]


def _links_to_image(id_pointer: str) -> dict[str, Any]:
    """OpenAPI links from an answer that names an image (``id_pointer`` into its body) to the image's routes."""
    parameters = {"image_id": f"$response.body#{id_pointer}"}
    return {
        "links": {
            "GetImage": {"operationId": "get_image", "parameters": parameters},
            "GetImageContent": {"operationId": "get_image_content", "parameters": parameters},
        }
    }


ImageId = Annotated[uuid.UUID, Path(description="Id of the image (a UUID), as the upload answered it.")]


@router.post(
    "",
    status_code=202,
    response_model=ImageAccepted,
    responses={202: _links_to_image("/id"), **_UPLOAD_ERRORS},
    openapi_extra=IMAGE_FORM,
    summary="Upload an image",
)
async def upload_image(
    file: Annotated[UploadFile, File(description="A PNG, JPEG or GIF image of a handwritten digit.")],
    pipeline: PipelineDep,
    source: Annotated[
        str,
        Query(pattern=SOURCE_PATTERN, description="Who uploads: api, dashboard, bench... (1-32 of A-Z a-z 0-9 . _ -)"),
    ] = "api",
) -> ImageAccepted:
    """Keep the image in object storage and queue it for every image model (Kafka, or in-process without it)."""
    limit = pipeline.uploads.max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"upload is larger than the limit of {limit} bytes")
    stored = await pipeline.uploads.upload(
        data, filename=stored_filename(file.filename), source=source, dispatch=pipeline.dispatch
    )
    image_id = stored.image.image_id
    return ImageAccepted(
        id=image_id,
        status="uploaded",
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        url=f"/api/images/{image_id}",
    )


@router.get(
    "",
    response_model=list[ImageOut],
    responses={200: _links_to_image("/0/id"), **_LIST_ERRORS},
    summary="List uploaded images",
)
def list_images(
    session: SessionDep,
    status: Annotated[ImageStatus | None, Query(description="Only images with this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many images.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many of the newest images.")] = 0,
) -> list[ImageOut]:
    """Uploaded images, newest first."""
    query = select(Image).order_by(Image.created_at.desc(), Image.id)
    if status:
        query = query.where(Image.status == status)
    rows: list[Image] = list(session.scalars(query.limit(limit).offset(offset)))
    return [ImageOut.model_validate(row) for row in rows]


def _image(session: Any, image_id: uuid.UUID) -> Image:
    image = session.get(Image, str(image_id))
    if image is None:
        raise ModelNotFound(f"no image {image_id}")
    return image


@router.get("/{image_id}", response_model=ImageDetail, responses=_IMAGE_ERRORS, summary="An image and its predictions")
def get_image(image_id: ImageId, session: SessionDep) -> ImageDetail:
    image = _image(session, image_id)
    rows: list[Prediction] = list(
        session.scalars(select(Prediction).where(Prediction.request_id == image.id).order_by(Prediction.model_name))
    )
    return ImageDetail(
        **ImageOut.model_validate(image).model_dump(), predictions=[PredictionOut.model_validate(r) for r in rows]
    )


@router.get(
    "/{image_id}/content",
    response_class=Response,
    responses={
        200: {
            "description": "The file as uploaded, with its media type.",
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in _IMAGE_MEDIA},
        },
        **_CONTENT_ERRORS,
    },
    summary="The uploaded image itself",
)
async def get_image_content(image_id: ImageId, session: SessionDep, pipeline: PipelineDep) -> Response:
    image = await run_in_threadpool(_image, session, image_id)
    try:
        data = await run_in_threadpool(pipeline.objects.get, image.storage_key)
    except ObjectNotFound as exc:
        raise ModelNotFound(f"image {image_id} is recorded but its file is gone: {exc}") from exc
    except StorageError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return Response(
        content=data,
        media_type=image.content_type,
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{image.sha256}"'},
    )
