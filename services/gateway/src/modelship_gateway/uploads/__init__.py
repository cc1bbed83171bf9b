"""Image uploads: :mod:`.intake` checks, keeps and records each upload; :mod:`.pipeline` wires the object store,
Kafka (or the in-process fan-out) and the predictions table for the ``/api/images`` routes."""
