"""The TFLite runtime: loading the shipped model, clear errors, no TensorFlow on the runtime path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heatcast.classify import features
from heatcast.classify.model import HEADS, LABELS, MAX_MODEL_BYTES, load_model
from heatcast.errors import HeatcastError, ModelError

pytestmark = pytest.mark.tflite


def test_shipped_model_loads_with_four_int8_heads(shipped_model: Path) -> None:
    m = load_model(shipped_model)
    assert shipped_model.stat().st_size <= MAX_MODEL_BYTES
    assert [h.name for h in m.heads] == list(HEADS)
    assert [h.labels for h in m.heads] == [LABELS[h] for h in HEADS]
    side = json.loads(shipped_model.with_suffix(".json").read_text())
    assert side["input"]["feature_version"] == features.FEATURE_VERSION
    presence = side["heldout"]["simulated"]["report"]["labels"]["presence"]
    truth = np.array(presence["confusion"]).sum(axis=1)
    # well above always saying the commonest class on scenes it never saw
    assert presence["accuracy"] > truth.max() / truth.sum() + 0.1
    q = np.zeros((3, *features.INPUT_SHAPE), dtype=np.int8)
    probs = m.predict(q)
    for h, p in zip(m.heads, probs, strict=True):
        assert p.shape == (3, len(h.labels))
        assert np.allclose(p.sum(axis=1), 1.0, atol=0.05)


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tflite"
    with pytest.raises(ModelError, match=r"nope\.tflite") as info:
        load_model(missing)
    assert isinstance(info.value, HeatcastError)
    assert "train_thermal" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a model", b"\x00" * 4 + b"TFL3" + b"\x00" * 40, bytes(range(256)) * 4],
    ids=["empty", "text", "header-only", "noise"],
)
def test_corrupt_model_names_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.tflite"):
        load_model(bad)


@pytest.mark.parametrize("keep", [100, 2000, 10000, 20000, -100])
def test_truncated_model_names_the_file_and_never_crashes(
    tmp_path: Path, shipped_model: Path, keep: int
) -> None:
    """tflite-runtime crashes the process on a truncated flatbuffer: heatcast must check first."""
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(shipped_model.read_bytes()[:keep])
    with pytest.raises(ModelError, match=r"cut\.tflite"):
        load_model(bad)


def test_a_model_that_does_not_match_its_sidecar_is_refused(tmp_path: Path, shipped_model: Path) -> None:
    path = tmp_path / "m.tflite"
    content = bytearray(shipped_model.read_bytes())
    content[-50] ^= 0xFF  # one flipped byte in the weights
    path.write_bytes(bytes(content))
    shutil.copy(shipped_model.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        load_model(path)


def test_sidecar_for_another_input_version_is_refused(tmp_path: Path, shipped_model: Path) -> None:
    path = tmp_path / "m.tflite"
    shutil.copy(shipped_model, path)
    path.with_suffix(".json").write_text(json.dumps({"input": {"feature_version": 999}}))
    with pytest.raises(ModelError, match="retrain"):
        load_model(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match=r"m\.json"):
        load_model(path)


def test_runtime_path_imports_neither_tensorflow_nor_sklearn(shipped_model: Path) -> None:
    """Nor scipy on the kiosk's path: it costs a Pi some 45 MB and a third of a second at start
    (bgsub, the yardstick for eval, may use it)."""
    code = (
        "import sys\n"
        "from heatcast.classify.pipeline import Pipeline\n"
        "from heatcast.sensor.frame import Frame\n"
        "import numpy as np\n"
        "p = Pipeline()\n"
        "for i in range(30):\n"
        "    f = np.full((8, 8), 22.0, np.float32); f[3:6, 3] += 3.0 * (i > 10)\n"
        "    a = p.update(Frame(f, 25.0, i / 10, i))\n"
        "print('SCIPY', any(m.split('.')[0] == 'scipy' for m in sys.modules))\n"
        "from heatcast.classify.bgsub import BgSubPipeline\n"
        "import heatcast.classify.evaluate, heatcast.firmware.cli_classify\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'sklearn', 'keras'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SCIPY False" in out.stdout
    assert "HEAVY []" in out.stdout


def test_loading_the_model_prints_nothing_on_stderr(tmp_path):
    """The TFLite runtime's set-up chatter goes to the log at debug, not onto a --json run's stderr."""
    import subprocess
    import sys

    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
        "from heatcast.classify.model import load_model\n"
        "load_model(None).predict_raw\n"
        "print('loaded')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert "loaded" in out.stdout
