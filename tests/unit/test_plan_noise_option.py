"""plan --noise-scale: a number, or the JSON `bsprof noise --json` wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bsprof.cli.plan import noise_scale_option
from bsprof.device import CPU
from bsprof.errors import InputFileError, UsageError
from bsprof.noise import GradientNorms, NoiseRequest, estimate_noise_scale


def noise_file(tmp_path: Path, small: float, big: float) -> Path:
    """A noise JSON from norms whose estimate is known: b=4, B=16."""
    norms = GradientNorms(4, 16, (small,) * 64, (big,) * 16)
    request = NoiseRequest("teacher.py", 4, 4, 64, device=CPU, bootstrap=20)
    path = tmp_path / "noise.json"
    path.write_text(json.dumps(estimate_noise_scale(norms, request, "cpu").to_dict()))
    return path


def test_a_number_is_taken_as_stated() -> None:
    assert noise_scale_option("1200") == (1200.0, "--noise-scale")
    assert noise_scale_option(None) == (None, None)


def test_a_noise_file_gives_its_estimate_and_says_where_from(tmp_path: Path) -> None:
    # |g_b|^2 = 2, |g_B|^2 = 1.25: |G|^2 = (16 x 1.25 - 4 x 2) / 12 = 1, tr(Sigma) = 0.75 / (3/16)
    # = 4, B_noise = 4
    path = noise_file(tmp_path, 2.0, 1.25)
    value, source = noise_scale_option(str(path))
    assert value == pytest.approx(4.0)
    assert source is not None and source.startswith(f"{path}: B_noise ~ 4 samples")
    assert source.endswith("teacher.py")


def test_an_unresolved_measurement_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    # |G|^2 = (16 x 0.5 - 4 x 2) / 12 = 0: not resolved
    with pytest.raises(UsageError, match="did not resolve B_noise"):
        noise_scale_option(str(noise_file(tmp_path, 2.0, 0.5)))
    with pytest.raises(UsageError, match="neither"):
        noise_scale_option(str(tmp_path / "missing.json"))
    (tmp_path / "sweep.json").write_text('{"schema_version": 1, "kind": "sweep"}')
    with pytest.raises(InputFileError, match="not a bsprof noise JSON"):
        noise_scale_option(str(tmp_path / "sweep.json"))
