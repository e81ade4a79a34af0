"""Which libraries the fork server preloads for a model: read from the model file's source,
never by importing it; and importing them can never fail loudly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bsprof.config import SweepConfig
from bsprof.runner.preload import import_quietly, is_library, library_modules

# Installed third-party libraries in the test environment (the dev dependencies)
LIBRARY, OTHER_LIBRARY = "transformers", "typer"


def _model(folder: Path, source: str, name: str = "model.py") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(source)
    return str(path)


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The working directory is searched like a model's folder: keep it empty."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


def test_third_party_imports_are_kept_as_written(tmp_path: Path) -> None:
    model = _model(
        tmp_path / "m",
        f"import {OTHER_LIBRARY}.testing as t\nfrom {LIBRARY} import GPT2Config, GPT2Model\n"
        f"from {LIBRARY}.utils import *\n",
    )
    assert library_modules(model) == (
        f"{OTHER_LIBRARY}.testing",
        f"{LIBRARY}:GPT2Config",
        f"{LIBRARY}:GPT2Model",
        f"{LIBRARY}.utils",
    )


def test_stdlib_torch_bsprof_and_relative_imports_are_left_out(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\nimport os, json\nfrom collections import abc\n"
        "import torch\nfrom torch import nn\nimport bsprof.units\nfrom . import sibling\n"
        "from .helpers import x\n"
    )
    assert library_modules(_model(tmp_path / "m", source)) == ()


def test_the_users_own_modules_are_left_out(tmp_path: Path) -> None:
    """A neighbour of the model file, or a module in the working directory, is the user's code:
    imported in the fork server it would run outside the child's guards."""
    folder = tmp_path / "m"
    _model(folder, "", name="helpers.py")
    (folder / "localpkg").mkdir()
    (folder / "localpkg" / "__init__.py").write_text("")
    _model(Path.cwd(), "", name="cwd_helpers.py")
    _model(folder, "", name=f"{OTHER_LIBRARY}.py")  # shadows the installed library
    source = (
        f"import helpers\nfrom localpkg import thing\nimport cwd_helpers\nimport {OTHER_LIBRARY}\n"
        f"import {LIBRARY}\n"
    )
    assert library_modules(_model(folder, source)) == (LIBRARY,)


def test_conditional_imports_count_and_functions_do_not(tmp_path: Path) -> None:
    source = f"""
import sys
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import {OTHER_LIBRARY}.testing
if sys.version_info >= (3, 10):
    try:
        import {LIBRARY}
    except ImportError:
        from {OTHER_LIBRARY} import Typer
    else:
        pass
else:
    import {OTHER_LIBRARY}.core
with open(__file__):
    import {OTHER_LIBRARY}.main
def build_model():
    import {OTHER_LIBRARY}.colors
class Holder:
    import {OTHER_LIBRARY}.params
"""
    assert library_modules(_model(tmp_path / "m", source)) == (
        LIBRARY,
        f"{OTHER_LIBRARY}:Typer",
        f"{OTHER_LIBRARY}.core",
        f"{OTHER_LIBRARY}.main",
    )


def test_missing_libraries_are_left_out(tmp_path: Path) -> None:
    source = "import no_such_library_for_bsprof\nfrom no_such_library_either import x\n"
    assert library_modules(_model(tmp_path / "m", source)) == ()


@pytest.mark.parametrize(
    "source", ["def broken(:\n", "import os\x00\n", b"\xff\xfe not utf-8 \xff".decode("latin-1")]
)
def test_an_unparsable_file_preloads_nothing(tmp_path: Path, source: str) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(source.encode("latin-1"))
    assert library_modules(str(path)) == ()


def test_nothing_for_what_is_not_a_readable_model_file(tmp_path: Path) -> None:
    assert library_modules(str(tmp_path / "missing.py")) == ()
    assert library_modules("some_package.models:Bundle") == ()  # finding it would import it
    (tmp_path / "data.txt").write_text(f"import {LIBRARY}\n")
    assert library_modules(str(tmp_path / "data.txt")) == ()


def test_an_attribute_target_reads_its_file(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", f"import {LIBRARY}\n")
    assert library_modules(f"{model}:Bundle") == (LIBRARY,)


def test_the_file_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\nimport {LIBRARY}\n"
    assert library_modules(_model(tmp_path / "m", source)) == (LIBRARY,)
    assert not marker.exists()


def test_an_hf_model_preloads_transformers_and_lora_adds_peft(tmp_path: Path) -> None:
    assert library_modules("hf:gpt2") == ("transformers", "transformers:AutoConfig")
    lora = SweepConfig(model="hf:gpt2", lora_rank=8)
    assert library_modules("hf:gpt2", lora) == ("transformers", "transformers:AutoConfig", "peft")
    model = _model(tmp_path / "m", "import torch\n")
    assert library_modules(model, SweepConfig(model=model, lora_rank=4)) == ("peft",)
    assert library_modules(model, SweepConfig(model=model)) == ()


def test_is_library_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _model(site / "marking_library", "open(__file__ + '.ran', 'w').close()\n", "__init__.py")
    monkeypatch.syspath_prepend(str(site))
    assert is_library("marking_library")
    assert not (site / "marking_library" / "__init__.py.ran").exists()
    assert "marking_library" not in sys.modules
    assert is_library("pytest") and not is_library("json") and not is_library("torch")
    assert not is_library("no_such_library_for_bsprof")


def test_failed_imports_are_skipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "loud_broken_lib.py").write_text(
        "import os, sys, warnings\nprint('LOUD out')\nprint('LOUD err', file=sys.stderr)\n"
        "os.write(2, b'LOUD fd\\n')\nwarnings.warn('LOUD warning')\nraise RuntimeError('boom')\n"
    )
    (tmp_path / "quiet_lib.py").write_text("VALUE = 1\nprint('LOUD too')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    entries = ["no_such_library_for_bsprof", "loud_broken_lib", "quiet_lib:VALUE", "quiet_lib:NOPE"]
    with pytest.warns(UserWarning, match="after") as recorded:
        assert import_quietly(entries) == ("quiet_lib:VALUE",)
        __import__("warnings").warn("after")
    assert len(recorded) == 1  # the library's warning was ignored, the filters are back
    out, err = capfd.readouterr()
    assert "LOUD" not in out + err
    print("still printing")
    os.write(2, b"fd 2 is back\n")
    out, err = capfd.readouterr()
    assert out == "still printing\n" and err == "fd 2 is back\n"
