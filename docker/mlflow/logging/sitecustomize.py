"""JSON log lines from every Python process of the MLflow image: ``mlflow server`` itself (it creates and migrates
the tables before it starts uvicorn), its uvicorn workers and ``mlflow db upgrade``.

Python imports ``sitecustomize`` at start-up when it is on the path; the image puts this directory on PYTHONPATH,
with ``modelship_common/logs.py`` beside it (the platform's formatter, standard library only: the same fields as
every modelship process). It acts only when ``MLFLOW_CONFIGURE_LOGGING=false``, which the chart sets for JSON
logs: MLflow then leaves its loggers without a handler of their own, and they reach this one on the root logger.
In the uvicorn workers, ``logging.json`` (uvicorn's ``--log-config``) replaces it with the same formatter and adds
uvicorn's loggers. Python warnings go through logging too, so they are JSON lines as well.
"""

import logging
import os

if os.environ.get("MLFLOW_CONFIGURE_LOGGING", "").strip().lower() == "false":
    from modelship_common.logs import JsonFormatter

    _handler = logging.StreamHandler()
    _handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(_handler)
    logging.getLogger().setLevel(logging.INFO)
    logging.captureWarnings(True)
