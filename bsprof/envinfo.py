"""The environment a measurement ran in: versions, devices, threads and RAM, as plain JSON.

Imports torch and, with ``touch_cuda``, initialises CUDA: bsprof calls it only inside a worker
process. A parent that initialises CUDA and then forks leaves its children a CUDA context that
does not work, so nothing here asks CUDA anything unless the caller says the process may.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable

from bsprof.backends.nvml import list_gpus, normalize_uuid, nvml_status
from bsprof.sysinfo import available_ram_bytes, total_ram_bytes
from bsprof.version import __version__


def collect_environment(device: str = "cpu", touch_cuda: bool = False) -> dict[str, object]:
    """A JSON-able description of this process's environment.

    Without ``touch_cuda``, ``cuda_available`` is None (not asked) and ``gpus`` is empty; NVML
    still lists the GPUs, as NVML does not create a CUDA context.
    """
    import torch

    cuda_available = bool(torch.cuda.is_available()) if touch_cuda else None
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "bsprof": __version__,
        "torch": str(torch.__version__),  # a plain str: a TorchVersion would import torch in
        # the parent that unpickles it (1 s on the critical path of every sweep)
        "cuda": torch.version.cuda,  # the CUDA torch was built for; None in a CPU-only build
        "cudnn": _cudnn_version(),
        "cuda_available": cuda_available,
        "gpus": _torch_gpus() if cuda_available else [],
        "nvml": nvml_status(),
        "nvml_gpus": [dataclasses.asdict(gpu) for gpu in list_gpus()],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_total_bytes": total_ram_bytes(),
        "ram_available_bytes": available_ram_bytes(),
        "device": device,
    }


def _cudnn_version() -> int | None:
    import torch

    # cudnnGetVersion needs no CUDA context. version() raises when the cuDNN found at run time
    # is incompatible with the one torch was built against: then there is no usable cuDNN.
    # Bound to a typed name because torch leaves cudnn.version() unannotated (strict mypy).
    cudnn_version: Callable[[], int | None] = torch.backends.cudnn.version
    try:
        version = cudnn_version()
    except RuntimeError:
        return None
    return None if version is None else int(version)


def _torch_gpus() -> list[dict[str, object]]:
    """CUDA's view: indices as ``cuda:N`` counts them (after CUDA_VISIBLE_DEVICES)."""
    import torch

    gpus: list[dict[str, object]] = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            {
                "index": index,
                "name": props.name,
                "memory_total_bytes": int(props.total_memory),
                # NVML's spelling, so an entry here can be matched with one in nvml_gpus.
                "uuid": normalize_uuid(str(props.uuid)),
            }
        )
    return gpus
