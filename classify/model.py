"""Loading and running the int8 TFLite model, without TensorFlow.

The interpreter comes from ``ai_edge_litert`` (the maintained successor of
tflite-runtime) or, failing that, from ``tflite_runtime``, which has the same
API. The model has one input, (N, 8, 8, C) int8 (see :mod:`.features`), and
four softmax heads in this order: presence, count, posture, orientation. The
sidecar ``model.json`` beside the ``.tflite`` file names the labels and the
input normalisation; a model whose input does not match this heatcast is
refused with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from heatcast.classify import features
from heatcast.classify.audience import COUNT_LABELS
from heatcast.errors import ModelError
from heatcast.sensor.frame import F32
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

log = logging.getLogger(__name__)

HEADS = ("presence", "count", "posture", "orientation")
LABELS: dict[str, tuple[str, ...]] = {
    "presence": ("absent", "present"),
    "count": COUNT_LABELS,
    "posture": POSTURES,
    "orientation": ORIENTATIONS,
}
#: Largest model heatcast accepts (the issue's budget).
MAX_MODEL_BYTES = 32 * 1024

I8 = npt.NDArray[np.int8]
#: What the TFLite runtime prints on stderr from C++ as it sets up, which no flag turns off.
_RUNTIME_CHATTER = ("INFO: Created TensorFlow Lite", "INFO: Initialized TensorFlow Lite")


@contextlib.contextmanager
def runtime_quiet() -> Iterator[None]:
    """Route what the TFLite runtime prints on stderr while setting up into the log, at debug.

    Anything else written to stderr meanwhile (another thread's log line) is passed on.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield  # no real stderr (an embedding host): nothing to route
        return
    # A memory file: nothing written to disk (the kiosk writes no scratch files).
    memfd = getattr(os, "memfd_create", None)
    caught_file = os.fdopen(memfd("heatcast-stderr"), "w+b") if memfd else tempfile.TemporaryFile()  # noqa: SIM115
    with caught_file as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read(1 << 16).decode("utf-8", "replace").splitlines():
                if line.startswith(_RUNTIME_CHATTER):
                    log.debug("tflite: %s", line)
                elif line:
                    sys.stderr.write(line + "\n")


def default_model_path() -> Path:
    """The model shipped with heatcast."""
    return Path(str(resources.files("heatcast.classify").joinpath("model.tflite")))


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError(
                "no TFLite runtime found: install one with pip install ai-edge-litert "
                "(or tflite-runtime on Python <= 3.11)"
            ) from None
    return Interpreter


@dataclass
class Head:
    name: str
    index: int
    scale: float
    zero_point: int
    labels: tuple[str, ...]


@dataclass
class ThermalModel:
    """A loaded model: an interpreter sized for one frame, plus its sidecar."""

    path: Path
    interpreter: Any
    input_index: int
    input_scale: float
    input_zero_point: int
    heads: list[Head]
    sidecar: dict[str, Any] = field(default_factory=dict)
    _batch: int = 1

    def quantize(self, x: F32) -> I8:
        return features.quantize(x, self.input_scale, self.input_zero_point)

    def tensor_views(self) -> tuple[Callable[[], I8], list[Callable[[], I8]]]:
        """Callables returning the live input and head output arrays (batch 1)."""
        self._resize(1)
        return (
            self.interpreter.tensor(self.input_index),
            [self.interpreter.tensor(h.index) for h in self.heads],
        )

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self.input_index, [batch, *features.INPUT_SHAPE])
            with runtime_quiet():
                self.interpreter.allocate_tensors()
            self._batch = batch

    def predict_raw(self, q: I8, chunk: int = 4096) -> list[I8]:
        """Raw int8 head outputs for int8 inputs (N, 8, 8, C): one (N, k) array per head."""
        n = len(q)
        outs = [np.empty((n, len(h.labels)), dtype=np.int8) for h in self.heads]
        it = self.interpreter
        for start in range(0, n, chunk):
            part = q[start : start + chunk]
            self._resize(len(part))
            it.set_tensor(self.input_index, np.ascontiguousarray(part))
            it.invoke()
            for h, out in zip(self.heads, outs, strict=True):
                out[start : start + len(part)] = it.get_tensor(h.index)
        return outs

    def predict(self, q: I8, chunk: int = 4096) -> list[npt.NDArray[np.float64]]:
        """Head probabilities for int8 inputs (N, 8, 8, C): one (N, k) array per head."""
        raw = self.predict_raw(q, chunk)
        return [(r.astype(np.float64) - h.zero_point) * h.scale for r, h in zip(raw, self.heads, strict=True)]


def _read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        log.warning("%s has no sidecar %s: assuming the default labels", path, side.name)
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{side}: cannot read the model's sidecar ({exc}); retrain or delete it") from None
    if not isinstance(data, dict):
        raise ModelError(f"{side}: the model's sidecar is not a JSON object; retrain or delete it")
    inputs = data.get("input", {})
    version = inputs.get("feature_version") if isinstance(inputs, dict) else None
    if version is not None and version != features.FEATURE_VERSION:
        raise ModelError(
            f"{path}: model was trained on input version {version}, this heatcast feeds version "
            f"{features.FEATURE_VERSION}; retrain it with tools/train_thermal.py"
        )
    return data


def _structure_problem(b: bytes) -> str | None:
    """Bounds-check the flatbuffer's tables and buffers (a truncated file crashes tflite-runtime)."""
    n = len(b)

    def u32(at: int) -> int:
        if not 0 <= at <= n - 4:
            raise IndexError(at)
        return int.from_bytes(b[at : at + 4], "little")

    def table_field(table: int, field: int) -> int | None:
        vtable = table - int.from_bytes(b[table : table + 4], "little", signed=True)
        if not 0 <= vtable <= n - 4 or not 0 <= table <= n - 4:
            raise IndexError(vtable)
        vsize = int.from_bytes(b[vtable : vtable + 2], "little")
        slot = 4 + 2 * field
        if slot + 2 > vsize or vtable + vsize > n:
            return None
        off = int.from_bytes(b[vtable + slot : vtable + slot + 2], "little")
        return table + off if off else None

    def vector(at: int) -> tuple[int, int]:
        start = at + u32(at)
        length = u32(start)
        return start + 4, length

    try:
        root = u32(0)
        u32(root)
        for field in (1, 2):  # operator codes, subgraphs
            pos = table_field(root, field)
            if pos is None:
                return "no operators or subgraphs"
            first, length = vector(pos)
            if first + 4 * length > n:
                return "truncated"
            for i in range(length):
                u32(first + 4 * i + u32(first + 4 * i))
        pos = table_field(root, 4)  # buffers
        if pos is not None:
            first, length = vector(pos)
            if first + 4 * length > n:
                return "truncated"
            for i in range(length):
                buf = first + 4 * i + u32(first + 4 * i)
                data = table_field(buf, 0)
                if data is not None:
                    start, size = vector(data)
                    if start + size > n:
                        return "truncated"
    except IndexError:
        return "truncated or damaged"
    return None


def load_model(path: Path | str | None = None) -> ThermalModel:
    """Load a model (default: the shipped one). Raises :class:`ModelError` naming the file."""
    path = default_model_path() if path is None else Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"{path}: no such model file; give --model PATH or retrain with tools/train_thermal.py"
        ) from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    if len(content) < 16 or content[4:8] != b"TFL3":
        raise ModelError(
            f"{path}: not a TFLite model file (corrupt or wrong file); retrain or reinstall heatcast"
        )
    sidecar = _read_sidecar(path)
    # The interpreter trusts the file and may crash on a damaged one: check it first.
    digest = sidecar.get("model_sha256")
    if isinstance(digest, str) and hashlib.sha256(content).hexdigest() != digest:
        raise ModelError(
            f"{path}: the model file does not match its sidecar (damaged or replaced); "
            "retrain or reinstall heatcast"
        )
    problem = _structure_problem(content)
    if problem:
        raise ModelError(f"{path}: corrupt TFLite model ({problem}); retrain or reinstall heatcast")
    interpreter_class = _interpreter_class()
    try:
        with runtime_quiet():
            it = interpreter_class(model_content=content, num_threads=1)
            it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: corrupt TFLite model ({first}); retrain or reinstall heatcast") from None
    ins = it.get_input_details()
    if len(ins) != 1 or tuple(ins[0]["shape"][1:]) != features.INPUT_SHAPE or ins[0]["dtype"] != np.int8:
        shapes = [tuple(int(v) for v in d["shape"]) for d in ins]
        raise ModelError(
            f"{path}: expected one int8 input of shape (1, {', '.join(map(str, features.INPUT_SHAPE))}), "
            f"found {shapes}; retrain it with tools/train_thermal.py"
        )
    inp = ins[0]
    heads = _heads(path, it, sidecar)
    scale, zero = inp["quantization"]
    return ThermalModel(
        path=path,
        interpreter=it,
        input_index=int(inp["index"]),
        input_scale=float(scale),
        input_zero_point=int(zero),
        heads=heads,
        sidecar=sidecar,
    )


def _heads(path: Path, it: Any, sidecar: dict[str, Any]) -> list[Head]:
    outputs = {int(d["index"]): d for d in it.get_output_details()}
    order: list[int]
    try:
        sigs = it._get_full_signature_list()
        sig = next(iter(sigs.values()))["outputs"]
        order = [int(sig[name]) for name in sorted(sig, key=lambda s: int(s.rpartition("_")[2]))]
    except (AttributeError, KeyError, StopIteration, ValueError):
        order = sorted(outputs, key=lambda i: str(outputs[i]["name"]).rpartition(":")[2])
    labels = dict(LABELS)
    side_labels = sidecar.get("labels")
    if isinstance(side_labels, dict):
        for name in HEADS:
            if isinstance(side_labels.get(name), list):
                labels[name] = tuple(str(v) for v in side_labels[name])
    if len(order) != len(HEADS):
        raise ModelError(f"{path}: expected {len(HEADS)} outputs ({', '.join(HEADS)}), found {len(order)}")
    heads = []
    for name, index in zip(HEADS, order, strict=True):
        d = outputs[index]
        width = int(d["shape"][-1])
        if width != len(LABELS[name]) or labels[name] != LABELS[name] or d["dtype"] != np.int8:
            raise ModelError(
                f"{path}: the {name} output has {width} {d['dtype'].__name__} classes, expected "
                f"int8 {', '.join(LABELS[name])}; retrain it with tools/train_thermal.py"
            )
        scale, zero = d["quantization"]
        if not (math.isfinite(scale) and scale > 0):
            raise ModelError(
                f"{path}: the {name} output is not quantised; retrain with tools/train_thermal.py"
            )
        heads.append(Head(name, index, float(scale), int(zero), labels[name]))
    return heads
