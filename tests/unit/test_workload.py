"""Loading the user's model file: every way it can be broken is one clear ModelFileError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bsprof.errors import ModelFileError
from bsprof.workload import load_workload

GOOD = """
import torch
def build_model():
    return torch.nn.Linear(2, 2)
def make_batch(batch_size):
    return torch.ones(batch_size, 2), torch.zeros(batch_size, dtype=torch.long)
"""


def _write(tmp_path: Path, text: str, name: str = "model.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_good_file_loads(tmp_path: Path) -> None:
    workload = load_workload(_write(tmp_path, GOOD))
    assert workload.loss_fn is None and workload.build_optimizer is None
    assert workload.make_batch(3)[0].shape == (3, 2)


def test_a_module_level_model_is_accepted(tmp_path: Path) -> None:
    text = GOOD.replace("def build_model():\n    return", "model =")
    workload = load_workload(_write(tmp_path, text))
    assert workload.build_model() is workload.build_model()


def test_module_and_attribute_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        GOOD + "\nclass Bundle:\n    build_model = staticmethod(build_model)\n"
        "    make_batch = staticmethod(make_batch)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert load_workload("mypkg.models").source == "mypkg.models"
    assert load_workload("mypkg.models:Bundle").make_batch(2)[0].shape == (2, 2)
    with pytest.raises(ModelFileError, match="has no attribute 'Nope'"):
        load_workload("mypkg.models:Nope")


def test_neighbouring_modules_can_be_imported(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_model.py").write_text("WIDTH = 2\n")
    text = "from helpers_for_model import WIDTH\n" + GOOD
    assert load_workload(_write(tmp_path, text)).build_model().in_features == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def build_model(:\n", r"model.py:1: syntax error"),
        (
            "import no_such_module_xyz\n",
            "importing it failed: ModuleNotFoundError: No module named",
        ),
        (
            "raise RuntimeError('boom')\n",
            r"importing it failed: RuntimeError: boom \(at model.py:1",
        ),
        (GOOD.replace("build_model", "build"), r"no build_model\(\) found"),
        (GOOD.replace("make_batch", "batch"), r"no make_batch\(\) found"),
        (GOOD + "loss_fn = 3\n", "loss_fn is a int, expected a function"),
    ],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        load_workload(_write(tmp_path, text))


def test_missing_file_and_module(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such model file"):
        load_workload(str(tmp_path / "absent.py"))
    with pytest.raises(ModelFileError, match="no such module"):
        load_workload("definitely_not_a_module_xyz")


def test_training_step_and_batch_dim_are_read(tmp_path: Path) -> None:
    text = GOOD + "\nBATCH_DIM = 1\n\ndef training_step(model, inputs, targets):\n    return 0\n"
    workload = load_workload(_write(tmp_path, text))
    assert workload.training_step is not None and workload.batch_dim == 1


@pytest.mark.parametrize("value", ["'1'", "-1", "True", "1.0"])
def test_a_bad_batch_dim_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ModelFileError, match="BATCH_DIM must be a non-negative integer"):
        load_workload(_write(tmp_path, GOOD + f"\nBATCH_DIM = {value}\n"))
