from __future__ import annotations

import re

import pytest

from bsprof.config import Mode, Precision, SweepConfig, config_from_dict
from bsprof.device import CPU, CUDA, Device, DeviceKind
from bsprof.errors import ConfigError


def test_doubling_ladder() -> None:
    assert SweepConfig("m.py", min_batch=3, max_batch=50).doubling_sizes == (3, 6, 12, 24, 48)
    assert SweepConfig("m.py", max_batch=1).doubling_sizes == (1,)


def test_to_dict_is_plain_json() -> None:
    data = SweepConfig("m.py", mode=Mode.EVAL, precision=Precision.BF16, batch_sizes=(8,)).to_dict()
    assert data["mode"] == "eval" and data["precision"] == "bf16" and data["batch_sizes"] == [8]
    assert data["world_size"] == 1 and data["model"] == "m.py"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, "--device must be auto, cpu, cuda or cuda:N"),
        ({"min_batch": 0}, "--min-batch must be a positive integer"),
        ({"min_batch": 64, "max_batch": 8}, "larger than --max-batch"),
        ({"iters": 0}, "--iters must be a positive integer"),
        ({"warmup": -1}, "--warmup must be 0 or more"),
        ({"batch_sizes": (8, 0)}, "--batch-sizes must be a positive integer"),
        ({"batch_sizes": (8,), "exact": True}, "drop --batch-sizes"),
        ({"dataset_size": 100}, "needs both --dataset-size and --epochs"),
        ({"trial_timeout_s": 0.0}, "--trial-timeout must be positive"),
    ],
)
def test_invalid_configs(kwargs: dict[str, object], message: str) -> None:
    """The domain names settings as the Python API does; the CLI's rendering names flags."""
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"model": "m.py", **kwargs})  # as a JSON config, so text is parsed
    assert message in raised.value.cli_message
    assert "--" not in str(raised.value)
    api_names = re.sub(r"--([a-z-]+)", lambda m: m[1].replace("-", "_"), message)
    assert api_names in str(raised.value)


def test_a_config_round_trips_through_its_dict() -> None:
    from bsprof.config import config_from_dict
    from bsprof.gpus import device_model

    config = SweepConfig(
        "m.py",
        device=CPU,
        mode=Mode.EVAL,
        precision=Precision.BF16,
        batch_sizes=(4, 8),
        memory_limit_bytes=2**30,
        predict=True,
        target=device_model(None, "h100"),
    )
    assert config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("text", "device"),
    [
        ("auto", Device(DeviceKind.AUTO)),
        ("cpu", CPU),
        ("cuda", CUDA),
        ("cuda:3", Device(DeviceKind.CUDA, 3)),
        (" CUDA:1 ", Device(DeviceKind.CUDA, 1)),
    ],
)
def test_a_device_is_parsed_once_and_prints_as_its_text(text: str, device: Device) -> None:
    assert Device.parse(text) == device
    assert Device.parse(str(device)) == device
    assert str(device) == text.strip().lower()


@pytest.mark.parametrize("text", ["tpu", "cpu:0", "cuda:", "cuda:-1", "cuda:x", "", "mps"])
def test_other_device_text_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
        Device.parse(text)
