"""make_batch(batch_size, seq_len): how bsprof reads the signature and what it passes."""

from __future__ import annotations

from typing import Any

import pytest

from bsprof.errors import ModelFileError
from bsprof.step import checked_batch
from bsprof.workload import SeqLenParameter, seq_len_parameter
from tests.conftest import tiny_workload

torch = pytest.importorskip("torch")


def _no_length(batch_size: int) -> Any: ...
def _positional(batch_size: int, length: int) -> Any: ...
def _optional(batch_size: int, seq_len: int = 64) -> Any: ...
def _keyword_only(batch_size: int, *, seq_len: int) -> Any: ...
def _named_later(batch_size: int, device: str = "cpu", seq_len: int = 8) -> Any: ...
def _varargs(*args: int) -> Any: ...


@pytest.mark.parametrize(
    ("make_batch", "expected"),
    [
        (_no_length, SeqLenParameter(False)),
        (_positional, SeqLenParameter(True, required=True)),
        (_optional, SeqLenParameter(True, required=False)),
        (_keyword_only, SeqLenParameter(True, required=True, keyword=True)),
        (_named_later, SeqLenParameter(True, required=False, keyword=True)),
        (_varargs, SeqLenParameter(True)),
        (len, SeqLenParameter(False)),
    ],
)
def test_the_signature_says_how_make_batch_takes_a_length(
    make_batch: Any, expected: SeqLenParameter
) -> None:
    assert seq_len_parameter(make_batch) == expected


def _tokens(calls: list[tuple[int, int]], keyword: bool = False) -> Any:
    def positional(batch_size: int, seq_len: int) -> Any:
        calls.append((batch_size, seq_len))
        return torch.zeros(batch_size, seq_len, 4), None

    def by_name(batch_size: int, device: str = "cpu", seq_len: int = 3) -> Any:
        assert device == "cpu"
        return positional(batch_size, seq_len)

    return by_name if keyword else positional


@pytest.mark.parametrize("keyword", [False, True])
def test_the_length_reaches_make_batch(keyword: bool) -> None:
    calls: list[tuple[int, int]] = []
    workload = tiny_workload(make_batch=_tokens(calls, keyword))
    inputs, _ = checked_batch(workload, 2, 64)
    assert inputs.shape == (2, 64, 4) and calls == [(2, 64)]


def test_without_a_length_the_workloads_default_is_passed() -> None:
    calls: list[tuple[int, int]] = []
    workload = tiny_workload(make_batch=_tokens(calls), default_seq_len=128)
    checked_batch(workload, 2)
    assert calls == [(2, 128)]


def test_an_optional_length_keeps_make_batchs_own_default() -> None:
    calls: list[tuple[int, int]] = []
    workload = tiny_workload(make_batch=_tokens(calls, keyword=True))
    checked_batch(workload, 2)
    assert calls == [(2, 3)]


def test_a_length_for_a_make_batch_without_one_is_refused() -> None:
    with pytest.raises(ModelFileError) as caught:
        checked_batch(tiny_workload(), 8, 512)
    assert caught.value.message == (
        "model.py: make_batch(batch_size) takes no seq_len: define "
        "make_batch(batch_size, seq_len) to use --seq-len"
    )


def test_a_required_length_without_one_is_refused() -> None:
    with pytest.raises(ModelFileError, match=r"^model\.py: make_batch\(batch_size, seq_len\) "
                       "needs a sequence length: give --seq-len"):  # fmt: skip
        checked_batch(tiny_workload(make_batch=_tokens([])), 8)


def test_errors_about_the_batch_show_the_length_passed() -> None:
    def wrong_size(batch_size: int, seq_len: int) -> Any:
        return torch.zeros(1, seq_len), None

    with pytest.raises(ModelFileError) as caught:
        checked_batch(tiny_workload(make_batch=wrong_size), 8, 512)
    assert caught.value.message.startswith(
        "model.py: make_batch(8, 512) returned inputs whose batch dimension (dim 0) is 1, not 8"
    )
