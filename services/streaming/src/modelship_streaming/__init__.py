"""modelship streaming worker: uploaded images (Kafka ``images.uploaded``) -> every image model -> predictions."""

__version__ = "0.1.0"
