"""On a torch without fake kernels for collectives (2.6), an FSDP prediction is refused in one
line that names the cause; where they exist (2.13) it is not."""

from __future__ import annotations

import pytest

from bsprof.prediction import PredictionUnsupported
from bsprof.prediction.sharded import fake_collectives_available, fake_process_group


def test_fsdp_predictions_are_refused_where_torch_cannot_fake_collectives() -> None:
    if fake_collectives_available():
        with fake_process_group(2) as mesh:
            assert mesh.size() == 2
        return
    refused = pytest.raises(PredictionUnsupported, match="fake-tensor kernels for torch's")
    with refused, fake_process_group(2):
        pass
