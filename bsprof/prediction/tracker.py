"""Live tensor storage during an iteration, on fake or real tensors alike.

A dispatch mode sees each op's outputs and tracks their untyped storages: a storage counts from
the first time an op produces it until its Python object is finalised, exactly as a real
tensor's memory lives from allocation to free (PyTorch keeps one Python object per storage
alive as long as any tensor uses it). The same tracker runs on fake tensors (the prediction) and
on real ones (the self-check), so the two can be compared op by op.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, is_traceable_wrapper_subclass
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

_RESIZE = "storage resize_"  # FSDP2's (re-)allocation of an unsharded parameter
CUDA_BLOCK_BYTES = 512  # the CUDA caching allocator rounds every allocation up to this

# An op whose fake kernel gets an output wrong: given the call and the fake outputs, the outputs
# to use instead (a right dtype) and the true byte size of each flattened output that still
# differs (a workspace the meta kernel leaves empty), by position.
Correction = Callable[[Any, tuple[Any, ...], dict[str, Any], Any], tuple[Any, Mapping[int, int]]]


def round_to_block(size: int) -> int:
    return -(-size // CUDA_BLOCK_BYTES) * CUDA_BLOCK_BYTES


def local_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors holding a tensor's memory: itself, or for a wrapper subclass (an FSDP2
    parameter is a DTensor) its inner tensors, whose storage is the shard this device holds.
    The wrapper's own storage reports the global size, which no device allocates."""
    if not _is_wrapper(tensor):
        return [tensor]
    names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]
    inner = (getattr(tensor, name) for name in names)
    return [t for value in inner if isinstance(value, torch.Tensor) for t in local_tensors(value)]


def _is_wrapper(tensor: Any) -> bool:
    return bool(is_traceable_wrapper_subclass(tensor))


def op_name(func: Any) -> str:
    """``aten.mm``: the op without its overload, as people search for it."""
    packet = getattr(func, "overloadpacket", None)
    return str(packet if packet is not None else func)


class LiveStorageTracker(TorchDispatchMode):
    """Live bytes of every tensor storage produced by an op, their peak, and bytes per op.

    A storage is known by its StorageImpl (``_cdata``), not by its Python wrapper: fake tensors
    copied with ``copy.deepcopy`` (``nn.TransformerEncoder`` clones its layers so) hand out a new
    wrapper for a view of the same storage. Bytes count from the first wrapper seen until the
    last one is finalised.

    FSDP2 keeps each unsharded parameter's storage for good and frees or re-allocates its memory
    with ``UntypedStorage.resize_``, which no dispatch mode sees: while the tracker is entered,
    ``resize_`` is wrapped so a storage's bytes follow its size (``gathered_live``: storages
    grown that way, the all-gathered parameters).
    """

    def __init__(self, corrections: Mapping[Any, Correction] | None = None) -> None:
        super().__init__()
        self._corrections = dict(corrections or {})
        self._wrappers: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._storages: dict[int, list[int]] = {}  # _cdata -> [size, rounded, live wrappers]
        self._grads: set[int] = set()
        self._gathered: set[int] = set()
        self._original_resize: Any = None
        self.live = 0
        self.live_rounded = 0
        self.grad_live = 0
        self.gathered_live = 0
        self.peak = 0
        self.peak_rounded = 0
        self.peak_grads = 0
        self.peak_gathered = 0
        self.phase = "start"
        self.peak_phase = "start"
        self.allocated_by_op: dict[str, int] = {}
        self.ops_seen: set[Any] = set()  # ops that returned a tensor

    def track(self, tensor: torch.Tensor, nbytes: int | None = None, op: str | None = None) -> None:
        if _is_wrapper(tensor):
            for local in local_tensors(tensor):
                self.track(local, op=op)
            return
        self._track_storage(tensor.untyped_storage(), nbytes, op)

    def _track_storage(self, wrapper: Any, nbytes: int | None, op: str | None) -> None:
        if wrapper in self._wrappers:
            return
        key = wrapper._cdata
        self._wrappers[wrapper] = key
        weakref.finalize(wrapper, self._release, key)
        known = self._storages.get(key)
        if known is not None:
            known[2] += 1
            return
        size = wrapper.nbytes() if nbytes is None else nbytes
        rounded = round_to_block(size)
        self._storages[key] = [size, rounded, 1]
        if op is not None:
            self.allocated_by_op[op] = self.allocated_by_op.get(op, 0) + size
        self.live += size
        self.live_rounded += rounded
        self._update_peak()

    def track_all(self, tensors: Iterable[torch.Tensor]) -> None:
        for tensor in tensors:
            self.track(tensor)

    def label_gradient(self, tensor: torch.Tensor) -> None:
        for local in local_tensors(tensor):
            self.track(local, op="gradient accumulation")
            key = local.untyped_storage()._cdata
            if key not in self._grads:
                self._grads.add(key)
                self.grad_live += self._storages[key][0]

    def _release(self, key: int) -> None:
        entry = self._storages[key]
        entry[2] -= 1
        if entry[2] > 0:
            return
        del self._storages[key]
        self.live -= entry[0]
        self.live_rounded -= entry[1]
        if key in self._grads:
            self._grads.discard(key)
            self.grad_live -= entry[0]
        if key in self._gathered:
            self._gathered.discard(key)
            self.gathered_live -= entry[0]

    def __enter__(self) -> LiveStorageTracker:
        self._original_resize = original = torch.UntypedStorage.resize_

        def resize_(storage: Any, size: int) -> Any:
            result = original(storage, size)
            self._resized(storage)
            return result

        torch.UntypedStorage.resize_ = resize_  # type: ignore[method-assign, assignment]
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.UntypedStorage.resize_ = self._original_resize  # type: ignore[method-assign]
        super().__exit__(*exc)

    def _resized(self, storage: Any) -> None:
        """A storage's memory allocated or freed in place: its bytes follow its new size."""
        key = storage._cdata
        if key not in self._storages:  # allocated before tracking began, empty until now
            self._track_storage(storage, 0, None)
        entry = self._storages[key]
        old, new = entry[0], storage.nbytes()
        if new > old:
            self.allocated_by_op[_RESIZE] = self.allocated_by_op.get(_RESIZE, 0) + new - old
        if new > 0 and key not in self._gathered:
            self._gathered.add(key)
            self.gathered_live += old
        rounded = round_to_block(new)
        self.live += new - old
        self.live_rounded += rounded - entry[1]
        entry[0], entry[1] = new, rounded
        if key in self._grads:
            self.grad_live += new - old
        if key in self._gathered:
            self.gathered_live += new - old
        self._update_peak()

    def _update_peak(self) -> None:
        if self.live > self.peak:
            self.peak = self.live
            self.peak_grads = self.grad_live
            self.peak_gathered = self.gathered_live
            self.peak_phase = self.phase
        self.peak_rounded = max(self.peak_rounded, self.live_rounded)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        correction = self._corrections.get(func)
        corrected: Mapping[int, int] = {}
        if correction is not None:
            out, corrected = correction(func, args, kwargs, out)
        outputs = tree_flatten(out)[0]
        if any(isinstance(value, torch.Tensor) for value in outputs):
            self.ops_seen.add(getattr(func, "overloadpacket", func))
        if _aliases_an_input(func):
            return out  # views and in-place ops allocate nothing
        name = op_name(func)
        for index, value in enumerate(outputs):
            if isinstance(value, torch.Tensor):
                self.track(value, corrected.get(index), name)
        return out


def _aliases_an_input(func: Any) -> bool:
    schema = getattr(func, "_schema", None)
    return schema is not None and any(r.alias_info is not None for r in schema.returns)
