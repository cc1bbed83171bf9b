"""The names the training tests register on the session's MLflow, and their removal (a uniquely named module,
importable from any test file)."""

from __future__ import annotations

#: The start of every registered-model name the training tests create on the session's MLflow: other suites read
#: ``penguins`` and the ``digits-*`` models that ``trained`` registers there.
PREFIX = "training-tests-"


def forget_models(tracking_uri: str, *names: str) -> None:
    """Delete the registered models ``names`` (those that exist) from the MLflow at ``tracking_uri``: the training
    code tags every model it registers served, and the demo test serves every served model of the session's
    MLflow."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for name in names:
        try:
            client.delete_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
