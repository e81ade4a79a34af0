"""CPU backend: perf_counter timing, peak resident memory of the worker, RLIMIT_AS as the cap.

An RLIMIT_AS cap limits address space, not tensor memory. Before capping we make the address
space predictable: one malloc arena (glibc reserves 64 MiB of address space per thread arena),
a fixed mmap threshold (large tensors are mmapped and returned to the OS when freed, so resident
memory follows live tensors), and the intra-op thread pool and its kernels warmed up (their
stacks and code are mapped lazily on first use). The cap is then the worker's address space at
that point plus the limit, so a step that needs more fails with PyTorch's real
"DefaultCPUAllocator: can't allocate memory" error. The cap never goes above the hard limit
the process was started with (``ulimit -v``): the effective limit is reported instead.

While the user's model file is imported, a guard cap (the share of RAM a worker may use) is in
force, so a runaway module-level allocation fails cleanly instead of reaching the kernel's OOM
killer; the memory the import keeps is then checked against the limit by the caller. Once the
file is imported (``model_loaded``), the trial's cap is set from there: the libraries the import
maps (transformers alone maps hundreds of MiB of code, which an address-space cap counts) are
start-up, exactly as torch itself is. Peaks are measured from that point too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from bsprof.backends.base import MemoryReading

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD_BYTES = 128 * 1024
_CPU_OOM_MARKERS = ("can't allocate memory", "cannot allocate memory")


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def tame_allocator() -> None:
    """Make glibc's address-space use predictable (see the module docstring)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return  # not glibc
    libc.mallopt(_M_ARENA_MAX, 1)
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_BYTES)


def free_blas_buffers() -> None:
    """Free the buffers MKL keeps in its own memory pool after a GEMM returns (sized by the
    shapes multiplied). Left there, a reused worker's next trial finds them allocated and peaks
    lower than a fresh worker, which allocates them during its trial: 1.4 MiB lower on the
    MNIST MLP at batch 256. (MKL is linked into libtorch_cpu; its public mkl_free_buffers is
    this symbol. A torch without MKL has nothing to free.)"""
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    with contextlib.suppress(OSError):
        free = getattr(ctypes.CDLL(str(library)), "mkl_serv_free_buffers", None)
        if free is not None:
            free()


def warm_up_runtime() -> None:
    """Start the intra-op threads and load common kernels before the cap is measured."""
    a = torch.ones(256, 256, requires_grad=True)
    loss = (
        torch.relu(a @ a).sum()
        + torch.nn.functional.conv2d(a.view(1, 1, 256, 256), torch.ones(1, 1, 3, 3)).sum()
    )
    torch.autograd.backward(loss)


def anonymous_rss() -> int:
    """Resident memory not backed by files: what tensors and the heap use."""
    return _proc_status_kib("RssAnon") * 1024


# CPython's small-object allocator (pymalloc) maps 1 MiB arenas and hands out 16 KiB pools
# from them. Objects of at most 512 bytes come from it; a bytes object is 33 bytes plus its data.
_ARENA_BYTES = 1 << 20
_FILLER_DATA_BYTES = 512 - 33
_FILLER_PER_CHECK = 31  # one pool of 512-byte blocks
_MAX_FILLER_BYTES = 64 << 20  # no new arena by then: not pymalloc (PYTHONMALLOC=malloc)
_python_heap_reserve: list[bytes] = []


def _address_space_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()


def reserve_python_heap() -> None:
    """Leave a fresh pymalloc arena's room for the Python objects a step creates.

    Whether those objects (tens of KiB a training iteration) need a new 1 MiB arena under the
    cap depends on how full Python's last arena happened to be when the cap was set: the path
    the code was started from, the environment, the libraries' versions. That is luck, not the
    model, and on a model with 11 KiB samples it moved the largest batch by 92. So before the
    cap, small blocks fill every free pool until Python maps a new arena; the blocks are kept
    (they are start-up), the new arena's ~63 free pools are under the cap's baseline, and a
    step's Python objects fit there in every process that capped this way.
    """
    _python_heap_reserve.clear()  # a re-cap (the next trial in a reused worker) starts anew
    start = _address_space_bytes()
    for _ in range(_MAX_FILLER_BYTES // (_FILLER_PER_CHECK * 512)):
        _python_heap_reserve.extend(bytes(_FILLER_DATA_BYTES) for _ in range(_FILLER_PER_CHECK))
        if _address_space_bytes() - start >= _ARENA_BYTES:
            return


def cap_address_space(limit_bytes: int | None) -> int | None:
    """Cap this process's address space at its current size plus ``limit_bytes``, never above
    the hard limit it was started with; returns the effective limit (None: no cap)."""
    if limit_bytes is None:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))  # an earlier cap must not stop the reserve
    reserve_python_heap()
    address_space = _address_space_bytes()
    cap = address_space + limit_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))  # the hard limit stays as it was
    return max(0, cap - address_space)


class CpuTimer:
    def __init__(self) -> None:
        self._samples: list[float] = []
        self._start = 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> None:
        self._samples.append(time.perf_counter() - self._start)

    def samples(self) -> list[float]:
        return list(self._samples)


class _NoTelemetry:
    telemetry = None


class CpuBackend:
    name = "cpu"

    def __init__(self) -> None:
        self._baseline_rss = 0
        self._requested: int | None = None
        self._limit: int | None = None
        self._cap_base = 0  # the address space the cap was set above
        self._vm_peak_at_reset = 0

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def prepare(self, memory_limit_bytes: int | None, guard_bytes: int | None = None) -> None:
        tame_allocator()
        warm_up_runtime()
        self._requested = memory_limit_bytes
        guards = [b for b in (memory_limit_bytes, guard_bytes) if b is not None]
        self._limit = cap_address_space(max(guards) if guards else None)
        self._baseline_rss = self._anonymous_rss()  # after the cap's Python heap reserve

    def model_loaded(self) -> int:
        """The trial's cap and peaks count from here; returns what the import took."""
        # read before the cap: the Python heap it reserves (about 1 MiB) is not the import's
        imported = max(0, self._anonymous_rss() - self._baseline_rss)
        self._cap_from_here()
        return imported

    def begin_trial(self) -> None:
        """The last trial's tensors, model and optimizer are garbage by now, some of them in
        reference cycles: collect them and free MKL's kept buffers, so the new cap and baseline
        sit where a fresh worker's would."""
        gc.collect()
        free_blas_buffers()
        # Not malloc_trim: a fresh worker's free heap chunks are resident, in its baseline, and
        # its trial reuses them; trimmed, the reused worker's trial would fault them in again
        # and count them (its peaks came out 0.1-0.7 MiB above fresh ones on the MNIST MLP).
        self._cap_from_here()

    def _cap_from_here(self) -> None:
        self._limit = cap_address_space(self._requested)
        self._cap_base = _address_space_bytes()
        self._baseline_rss = self._anonymous_rss()

    def capacity_bytes(self) -> int | None:
        return self._limit

    def _anonymous_rss(self) -> int:
        return anonymous_rss()

    def reset_peak(self) -> None:
        # Writing 5 to clear_refs resets the peak resident set (VmHWM) to the current RSS.
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        self._vm_peak_at_reset = _proc_status_kib("VmPeak") * 1024

    def read_memory(self) -> MemoryReading:
        # VmHWM counts file-backed pages too: the code of kernels paged in on first use, which
        # is not the model's memory. File pages only grow during a trial, so subtracting the
        # current file and shared RSS from the peak leaves the anonymous (tensor) peak.
        file_backed = (_proc_status_kib("RssFile") + _proc_status_kib("RssShmem")) * 1024
        peak_anonymous = _proc_status_kib("VmHWM") * 1024 - file_backed
        return MemoryReading(
            peak_bytes=max(0, peak_anonymous - self._baseline_rss),
            limit_peak_bytes=self._address_space_peak(),
        )

    def _address_space_peak(self) -> int | None:
        """The trial's peak address space above the cap's baseline: what the cap compares with
        the limit. The kernel keeps one peak per process (VmPeak, never reset), so a trial whose
        peak stayed under an earlier one (the import's, a previous trial's) cannot be told."""
        vm_peak = _proc_status_kib("VmPeak") * 1024
        if self._limit is None or vm_peak <= self._vm_peak_at_reset:
            return None
        return vm_peak - self._cap_base

    def synchronize(self) -> None:
        pass

    def timer(self) -> CpuTimer:
        return CpuTimer()

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, MemoryError):
            return True
        text = str(exc).lower()
        return isinstance(exc, RuntimeError) and any(m in text for m in _CPU_OOM_MARKERS)

    @contextlib.contextmanager
    def telemetry(self) -> Iterator[_NoTelemetry]:
        yield _NoTelemetry()
