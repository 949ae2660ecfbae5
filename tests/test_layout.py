"""The package layout rules: nfc/ never shadows nfcpy, the subpackages import from anywhere,
the layers import only downwards, and the runtime path never pulls in TensorFlow or scikit-learn."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("sensor", "classify", "firmware", "nfc")
#: area -> the heatcast packages it must never import (lower layers never import higher ones)
FORBIDDEN = {
    "sensor": ("heatcast.classify", "heatcast.firmware", "heatcast.nfc"),
    "classify": ("heatcast.firmware", "heatcast.nfc"),
}
HEAVY = ("tensorflow", "keras", "sklearn")


def python(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_nfc_from_the_repository_root_is_nfcpy() -> None:
    printed = python("import nfc, ndef; print(nfc.__file__)", REPO)
    path = Path(printed).resolve()
    assert "site-packages" in path.parts, printed
    assert (REPO / "nfc").resolve() not in path.parents, printed
    nfcpy = Path(str(importlib.metadata.distribution("nfcpy").locate_file("nfc/__init__.py")))
    assert path == nfcpy.resolve()
    assert python("import nfc; print(hasattr(nfc, 'ContactlessFrontend'))", REPO) == "True"


def test_nfc_folder_has_no_init() -> None:
    assert (REPO / "nfc").is_dir()
    assert not (REPO / "nfc" / "__init__.py").exists()
    assert not (REPO / "nfc.py").exists()


def test_heatcast_links_to_the_top_level_folders() -> None:
    for name in SUBPACKAGES:
        link = REPO / "heatcast" / name
        assert link.is_symlink(), link
        assert link.resolve() == (REPO / name).resolve()


def test_subpackages_import_from_another_folder(tmp_path: Path) -> None:
    code = (
        "import json, heatcast, heatcast.sensor, heatcast.classify, heatcast.firmware, heatcast.nfc.keys\n"
        "import heatcast.sensor.trace, heatcast.firmware.cli\n"
        "print(json.dumps([heatcast.__file__, heatcast.sensor.__file__, heatcast.classify.__file__,"
        " heatcast.firmware.__file__, list(heatcast.nfc.__path__)]))"
    )
    files = json.loads(python(code, tmp_path))
    assert Path(files[0]).resolve() == (REPO / "heatcast" / "__init__.py").resolve()
    for name, file in zip(("sensor", "classify", "firmware"), files[1:4], strict=True):
        assert Path(file).resolve() == (REPO / name / "__init__.py").resolve()
    assert [Path(p).resolve() for p in files[4]] == [(REPO / "nfc").resolve()]


def imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names; relative imports resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from heatcast import firmware" imports heatcast.firmware
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def modules_of(area: str) -> list[Path]:
    return sorted(p for p in (REPO / area).rglob("*.py") if "__pycache__" not in p.parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("area", SUBPACKAGES)
def test_layering(area: str) -> None:
    files = modules_of(area)
    assert files, f"no modules in {area}/"
    wrong = []
    for path in files:
        package = "heatcast." + ".".join(path.relative_to(REPO).parent.parts)
        for line, module in imports_of(path, package):
            if area == "nfc":
                bad = within(module, "heatcast") and not (
                    module == "heatcast"
                    or within(module, "heatcast.errors")
                    or within(module, "heatcast.nfc")
                )
                # "from heatcast import errors" names the module heatcast itself
            else:
                bad = any(within(module, higher) for higher in FORBIDDEN.get(area, ()))
            if bad:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, "layering broken:\n" + "\n".join(wrong)


def test_layering_check_sees_relative_and_lazy_imports(tmp_path: Path) -> None:
    """The checker itself: the import forms a module might use are all seen."""
    sample = tmp_path / "m.py"
    sample.write_text(
        "from ..classify import pipeline\n"
        "def f():\n    import heatcast.firmware.cli\n"
        "from heatcast import firmware\n"
        "from . import frame\n"
    )
    names = [m for _, m in imports_of(sample, "heatcast.sensor")]
    assert "heatcast.classify" in names and "heatcast.classify.pipeline" in names
    assert "heatcast.firmware.cli" in names and "heatcast.firmware" in names
    assert "heatcast.sensor.frame" in names


RUNTIME_MODULES = ("heatcast.classify.pipeline", "heatcast.firmware.kiosk", "heatcast.firmware.cli")


@pytest.mark.parametrize("module", RUNTIME_MODULES)
def test_runtime_path_imports_neither_tensorflow_nor_sklearn(module: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    assert json.loads(python(code, tmp_path)) == []
