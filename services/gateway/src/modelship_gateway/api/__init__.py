"""The HTTP API: one ``APIRouter`` per resource (models, predictions, images, health, metrics)."""
