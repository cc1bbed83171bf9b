"""modelship rollout operator: MLflow registry aliases -> InferenceServices -> model server Deployments.

Started with ``kopf run -m modelship_operator.handlers``; everything else in this package is plain code that
the handlers call (pure renderers in :mod:`.render` and :mod:`.kserve`, status logic in :mod:`.status`).
"""
