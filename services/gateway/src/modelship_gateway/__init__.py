"""modelship gateway: REST API in front of the model servers; stores every prediction.

Layout, one module per job:

- ``app.py``: ``create_app(settings)`` and the lifespan that builds everything below once;
- ``settings.py``: the one :class:`~modelship_gateway.settings.GatewaySettings`, carried by the lifespan;
- ``api/``: one router per resource (models, predictions, images, health, metrics);
- ``prediction_service.py`` and ``prediction_store.py``: scoring rows/images through the scoring core, and the
  predictions table;
- ``uploads/``: image uploads (``intake``: check, keep, record) and their pipeline (Kafka or in-process fan-out);
- ``dashboard/``: the server-rendered pages with their templates and static files;
- ``deps.py``, ``errors.py``, ``metrics.py``, ``request_context.py``, ``group_commit.py``: shared plumbing.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
