"""Serving an ONNX form on onnxruntime, tuned for low latency, with outputs shaped as declared."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from modelyard.errors import CorruptModelPackageError, InvalidInputError
from modelyard.registry.flavors.adapter import InputAdapter
from modelyard.registry.flavors.dtypes import FLOATS, INTEGERS
from modelyard.registry.flavors.flavor import MATRIX_INPUT, InputForm
from modelyard.registry.flavors.signature import Array, ColumnSpec, Signature

# onnxruntime's own exceptions derive from Exception directly; these are the ones loading or
# running a model raises.
ORT_ERRORS: tuple[type[Exception], ...] = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NoModel,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
    RuntimeError,
    ValueError,
)
_ONNX_KINDS = {
    "tensor(float)": "float",
    "tensor(double)": "double",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}
PROBABILITIES_OUTPUT = "probabilities"
_MAX_DEFAULT_THREADS = 4
# Batches up to this many rows run on a single-threaded session (see onnx_model).
SMALL_BATCH_ROWS = 32


def default_threads() -> int:
    """Return the intra-op threads a session uses by default: the cores, at most 4."""
    return max(1, min(os.cpu_count() or 1, _MAX_DEFAULT_THREADS))


def open_session(model: bytes | Path, *, threads: int | None = None) -> ort.InferenceSession:
    """Open an onnxruntime session tuned for low-latency serving on the CPU.

    One inter-op thread and sequential execution (a model is one chain of operators); a few
    intra-op threads, which tree ensembles spread a large batch over, sleeping when idle;
    every graph optimization.

    Args:
        model: the serialized model, or the path of a ``.onnx`` file.
        threads: intra-op threads; None for :func:`default_threads`.

    Raises:
        CorruptArtifactError: onnxruntime cannot load the model.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle intra-op threads sleep instead of spinning: a spinning pool burns ~40 ms of CPU
    # after each call, and a process serves several models (a canary next to its champion)
    # whose pools then fight for the cores (1,000-row batches ran 2-4x slower with three
    # spinning sessions on 2 cores; see bench/README.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Converters declare some output shapes loosely (a label of shape [1]); onnxruntime warns on
    # every batch about it. Errors still come through.
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except ORT_ERRORS as exc:
        where = str(model) if isinstance(model, Path) else "the ONNX model"
        raise CorruptModelPackageError(f"onnxruntime cannot load {where}: {exc}") from exc


class OutputShaper:
    """Brings a raw output to the declared shape and dtype (e.g. [N, 1] float32 → [N] float64)."""

    def __init__(self, spec: ColumnSpec | None) -> None:
        self._is_flat = spec is not None and spec.shape is not None and len(spec.shape) == 1
        numeric = spec is not None and (spec.dtype in FLOATS or spec.dtype in INTEGERS)
        is_bool = spec is not None and spec.dtype == "bool"
        self._dtype = np.dtype(spec.dtype) if spec is not None and (numeric or is_bool) else None

    def __call__(self, output: Array) -> Array:
        """Return ``output`` in the declared shape and dtype."""
        if self._is_flat and output.ndim == 2 and output.shape[1] == 1:
            output = output.reshape(-1)
        if self._dtype is not None and output.dtype != self._dtype:
            return output.astype(self._dtype)
        return output


def output_spec(signature: Signature, position: int) -> ColumnSpec | None:
    """Return the declared output at ``position`` (0: predictions, 1: probabilities), if any."""
    return signature.outputs[position] if len(signature.outputs) > position else None


class OnnxModel:
    """An ONNX form on onnxruntime, fed by the input adapter.

    The input layout is read off the session: inputs named like the signature's columns get
    one column each; a single input gets the whole matrix (or the tensor).
    """

    input_form: InputForm = "raw"

    def __init__(
        self,
        session: ort.InferenceSession,
        adapter: InputAdapter,
        task: str,
        *,
        small_session: ort.InferenceSession | None = None,
    ) -> None:
        self.session = session
        self._adapter = adapter
        signature = adapter.signature
        inputs = session.get_inputs()
        names = [item.name for item in inputs]
        self._input_name = names[0] if names else MATRIX_INPUT
        self._kinds: dict[str, str] = {}
        if signature.input_kind == "dataframe" and sorted(names) == sorted(signature.input_names):
            self._kinds = {item.name: _ONNX_KINDS.get(item.type, "float") for item in inputs}
        elif len(names) != 1:
            raise InvalidInputError(
                f"the ONNX model's inputs ({', '.join(names)}) are neither the signature's "
                f"columns ({', '.join(signature.input_names)}) nor one tensor"
            )
        self._input_kind = _ONNX_KINDS.get(inputs[0].type, "float") if inputs else "float"
        self._is_tensor = signature.input_kind == "tensor"
        # One float matrix input over all-numeric columns: a caller that has already checked
        # its rows (the server) may hand over that matrix itself and skip building a frame.
        self.takes_matrix = (
            not self._kinds
            and not self._is_tensor
            and self._input_kind == "float"
            and all(
                spec.dtype in FLOATS or spec.dtype in INTEGERS or spec.dtype == "bool"
                for spec in signature.inputs
            )
        )
        self._width = len(signature.inputs)
        outputs = [item.name for item in session.get_outputs()]
        self._label_names = [outputs[0]]
        self._proba_names: list[str] | None = None
        if task == "classification" and len(outputs) > 1:
            proba = PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in outputs else outputs[1]
            self._proba_names = [proba]
        self._shape_label = OutputShaper(output_spec(signature, 0))
        self._shape_proba = OutputShaper(output_spec(signature, 1))
        # InferenceSession.run validates the feed names in Python (~4 µs, a tenth of a
        # one-row tree-ensemble call) and then calls the native session's run. The feeds
        # built here always name exactly the session's inputs, so the native run is called
        # directly; onnxruntime still rejects a bad feed there. The public run is the
        # fallback should onnxruntime rename its internals.
        self._run = _runner(session)
        self._run_small = self._run if small_session is None else _runner(small_session)

    def predict(self, data: object) -> Array:
        """Return the first output (labels for a classifier), shaped as declared."""
        feeds, rows = self._feeds(data)
        run = self._run_small if rows <= SMALL_BATCH_ROWS else self._run
        output = run(self._label_names, feeds, None)[0]
        return self._shape_label(np.asarray(output))

    def predict_proba(self, data: object) -> Array:
        """Return class probabilities, shaped as declared.

        Raises:
            InvalidInputError: the model gives no probabilities.
        """
        if self._proba_names is None:
            raise InvalidInputError("this ONNX model gives no class probabilities; call predict")
        feeds, rows = self._feeds(data)
        run = self._run_small if rows <= SMALL_BATCH_ROWS else self._run
        output = run(self._proba_names, feeds, None)[0]
        if isinstance(output, list):
            # A ZipMap output: one {class: probability} mapping per row.
            output = np.asarray([[row[key] for key in sorted(row)] for row in output])
        return self._shape_proba(output)

    def predict_with_proba(self, data: object) -> tuple[Array, Array]:
        """Return labels and class probabilities from one session run, shaped as declared.

        Raises:
            InvalidInputError: the model gives no probabilities.
        """
        if self._proba_names is None:
            raise InvalidInputError("this ONNX model gives no class probabilities; call predict")
        feeds, rows = self._feeds(data)
        run = self._run_small if rows <= SMALL_BATCH_ROWS else self._run
        labels, proba = run([*self._label_names, *self._proba_names], feeds, None)
        if isinstance(proba, list):
            proba = np.asarray([[row[key] for key in sorted(row)] for row in proba])
        return self._shape_label(np.asarray(labels)), self._shape_proba(proba)

    def _feeds(self, data: object) -> tuple[dict[str, Array], int]:
        if (
            self.takes_matrix
            and type(data) is np.ndarray
            and data.dtype == np.float32
            and data.ndim == 2
            and data.shape[1] == self._width
        ):
            return {self._input_name: data}, len(data)
        if self._kinds:
            columns = self._adapter.columns(data, self._kinds)
            return columns, len(next(iter(columns.values())))
        if self._is_tensor:
            tensor = self._adapter.tensor(data)
            if self._input_kind == "float":
                tensor = tensor.astype(np.float32, copy=False)
            return {self._input_name: tensor}, len(tensor)
        matrix = self._adapter.matrix(data)
        return {self._input_name: matrix}, len(matrix)


_Run = Callable[[list[str], dict[str, Array], None], list[Array]]


def _runner(session: ort.InferenceSession) -> _Run:
    # InferenceSession.run validates the feed names in Python (~4 µs, a tenth of a one-row
    # tree-ensemble call) and then calls the native session's run. OnnxModel's feeds always
    # name exactly the session's inputs, so the native run is called directly; onnxruntime
    # still rejects a bad feed there. The public run is the fallback should onnxruntime
    # rename its internals.
    run: _Run = getattr(getattr(session, "_sess", None), "run", session.run)
    return run


def onnx_model(
    source: bytes | Path, adapter: InputAdapter, task: str, *, threads: int | None = None
) -> OnnxModel:
    """Open an ONNX model for serving: one session for large batches, one for small ones.

    The large-batch session has ``threads`` intra-op threads; batches of up to
    ``SMALL_BATCH_ROWS`` rows run on a single-threaded one. A one-row call on a tree ensemble
    takes ~15 µs of compute; handing part of it to a sleeping worker thread costs about as
    much again, so small batches never leave the caller's thread.

    Args:
        source: the serialized model, or the path of a ``.onnx`` file.
        adapter: the input adapter of the package's signature.
        task: the package's task (``classification`` gives ``predict_proba``).
        threads: intra-op threads of the large-batch session; None for
            :func:`default_threads`.

    Returns:
        The model, ready to predict on caller data.

    Raises:
        CorruptArtifactError: onnxruntime cannot load the model.
    """
    threads = threads if threads is not None else default_threads()
    session = open_session(source, threads=threads)
    small = open_session(source, threads=1) if threads > 1 else None
    return OnnxModel(session, adapter, task, small_session=small)
