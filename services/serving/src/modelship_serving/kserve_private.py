"""Every private kserve name the model server's speed-ups and fixes rely on, in one place.

kserve has no public API for what these do; each name below is read or written only through this module, and
:func:`missing` says which of them a kserve release no longer has (``tests/test_kserve_private.py`` fails with
that list, so an upgrade that drops one fails there, by name, rather than somewhere in a request).

- fast import (:mod:`modelship_serving.fastimport`): the submodules it imports with ``kserve/__init__.py``
  skipped, which must exist as such;
- fast path (:mod:`modelship_serving.fastpath`, wired in :mod:`modelship_serving.modelserver`):
  ``ModelServer._serve`` (overridden to put the front in place) and ``ModelServer._rest_server`` (whose uvicorn
  config gets the front as its app);
- lean encoder (:func:`modelship_serving.dataplane.plain_rest`): ``InferResponse._requested_outputs`` and
  ``InferResponse._use_binary_outputs`` (it leaves those responses to kserve's encoder);
- binary request decoder (:func:`modelship_serving.dataplane.binary_request`): ``InferInput._raw_data``;
- gRPC metadata with versions (:class:`modelship_serving.modelserver.ModelshipInferenceServicer`):
  ``InferenceServicer._data_plane`` and the ``InferenceServicer`` global of ``kserve.protocol.grpc.server``;
- a repository that cannot unload (:class:`modelship_serving.modelserver.FixedModelRepository`):
  ``ModelRepositoryExtension._model_registry``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

#: The kserve modules :func:`modelship_serving.fastimport.preload_kserve` imports (kserve's ``__init__`` skipped).
FAST_IMPORT_MODULES = ("kserve.model", "kserve.model_server", "kserve.protocol.infer_type", "kserve.utils.utils")


# --- accessors ----------------------------------------------------------------------------------------------


def requested_outputs(response: Any) -> Any:
    """The outputs the request asked for by name (None or empty: all), as kserve's encoder reads them."""
    return response._requested_outputs


def uses_binary_outputs(response: Any) -> bool:
    """Whether kserve's encoder will write this response's outputs as binary tensors."""
    return bool(response._use_binary_outputs)


def set_raw_data(infer_input: Any, raw: bytes) -> None:
    """Give an input its binary tensor bytes, which kserve's ``as_numpy`` decodes by datatype."""
    infer_input._raw_data = raw


def rest_server(model_server: Any) -> Any:
    """The single-process REST server ``ModelServer.start`` built (None with several workers)."""
    return model_server._rest_server


def servicer_data_plane(servicer: Any) -> Any:
    """The data plane a gRPC ``InferenceServicer`` answers with."""
    return servicer._data_plane


def repository_models(extension: Any) -> Any:
    """The model registry behind a ``ModelRepositoryExtension``."""
    return extension._model_registry


def replace_grpc_servicer(servicer_class: type) -> None:
    """Make kserve's ``GRPCServer`` build its servicer from ``servicer_class`` (a module global it reads)."""
    from kserve.protocol.grpc import server as kserve_grpc_server

    kserve_grpc_server.InferenceServicer = servicer_class


# --- the check ----------------------------------------------------------------------------------------------


def _has(obj: Any, name: str, where: str, used_by: str, problems: list[str]) -> None:
    if not hasattr(obj, name):
        problems.append(f"{where}.{name} (used by {used_by})")


def missing() -> list[str]:
    """The private kserve names above that the installed kserve lacks, each with what relies on it."""
    problems: list[str] = []
    for module in FAST_IMPORT_MODULES:
        if importlib.util.find_spec(module) is None:
            problems.append(f"module {module} (used by the fast import)")
    if problems:
        return problems

    from kserve.model_repository import ModelRepository
    from kserve.model_server import ModelServer
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.grpc import server as kserve_grpc_server
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.infer_type import InferInput, InferOutput, InferResponse
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension

    _has(ModelServer, "_serve", "kserve.model_server.ModelServer", "the fast path", problems)
    # Set in ModelServer.__init__; read from the code, since building a ModelServer changes kserve's globals.
    if "_rest_server" not in ModelServer.__init__.__code__.co_names:
        problems.append("kserve.model_server.ModelServer()._rest_server (used by the fast path)")
    output = InferOutput("y", [1], "INT64")
    response = InferResponse("id", "m", [output], use_binary_outputs=True, requested_outputs=None)
    _has(response, "_requested_outputs", "InferResponse()", "the lean encoder", problems)
    _has(response, "_use_binary_outputs", "InferResponse()", "the lean encoder", problems)
    _has(InferInput("x", [1], "FP32"), "_raw_data", "InferInput()", "the binary request decoder", problems)
    _has(kserve_grpc_server, "InferenceServicer", "kserve.protocol.grpc.server", "the gRPC servicer", problems)
    registry = ModelRepository()
    servicer = InferenceServicer(DataPlane(model_registry=registry), ModelRepositoryExtension(registry))
    _has(servicer, "_data_plane", "InferenceServicer()", "the gRPC servicer", problems)
    extension = ModelRepositoryExtension(model_registry=registry)
    _has(extension, "_model_registry", "ModelRepositoryExtension()", "the fixed model repository", problems)
    return problems
