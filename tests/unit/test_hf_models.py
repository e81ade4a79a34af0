"""hf: targets from configs written here (no network): the task each config implies, the
synthetic batches, and predictions whose parameter bytes match the real model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bsprof.config import SweepConfig
from bsprof.errors import ModelFileError
from bsprof.model_setup import Task
from bsprof.workload import Workload, check_model_source, load_workload
from tests.hf_configs import saved, tiny_config

ROOT = Path(__file__).resolve().parents[2]

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

TINY_LLAMA_PARAMETERS = 24_992  # 2 embeddings of 100 x 32, 2 layers of 9,280, a final norm


@pytest.mark.parametrize(
    ("family", "task"),
    [
        ("llama", Task.CAUSAL_LM),
        ("gpt2", Task.CAUSAL_LM),
        ("bert-cls", Task.SEQ_CLS),
        ("bert-mlm", Task.MASKED_LM),
        ("t5", Task.SEQ2SEQ),
    ],
)
def test_the_task_comes_from_the_configs_architectures(
    family: str, task: Task, tmp_path: Path
) -> None:
    from bsprof.hf_models import load_hf

    assert load_hf(saved(tmp_path, family), None).task is task


def test_without_architectures_encoder_decoders_are_seq2seq_and_the_rest_causal_lm() -> None:
    from bsprof.hf_models import default_task

    assert default_task(tiny_config("t5", architectures=None)) is Task.SEQ2SEQ
    assert default_task(tiny_config("llama", architectures=None)) is Task.CAUSAL_LM
    # vision-language models are "...ForConditionalGeneration" too, but decoder-only
    vlm = tiny_config("llama", architectures=["LlavaForConditionalGeneration"])
    assert default_task(vlm) is Task.CAUSAL_LM


def test_a_config_json_path_reads_like_its_folder(tmp_path: Path) -> None:
    target = saved(tmp_path, "llama")
    workload = load_workload(target + "/config.json")
    assert workload.default_seq_len == 128
    assert workload.source == target + "/config.json"


def test_a_task_the_config_cannot_do_is_refused(tmp_path: Path) -> None:
    target = saved(tmp_path, "llama")
    with pytest.raises(ModelFileError) as caught:
        load_workload(target, Task.MASKED_LM)
    assert caught.value.message == (
        f"{target}: a LlamaConfig cannot do --task masked-lm (transformers has no "
        "AutoModelForMaskedLM model for it); it can do: causal-lm, seq-cls"
    )


@pytest.mark.parametrize(("family", "length"), [("llama", 128), ("gpt2", 64), ("t5", 512)])
def test_the_default_length_is_at_most_512_and_the_models_positions(
    family: str, length: int, tmp_path: Path
) -> None:
    assert load_workload(saved(tmp_path, family)).default_seq_len == length


def _batch(workload: Workload, batch_size: int, seq_len: int | None) -> tuple[Any, Any]:
    from bsprof.step import checked_batch

    return checked_batch(workload, batch_size, seq_len)


def test_causal_lm_batches_label_every_token_with_its_own_id(tmp_path: Path) -> None:
    inputs, targets = _batch(load_workload(saved(tmp_path, "llama")), 3, 16)
    assert targets is None  # the model's outputs.loss is the loss
    # no attention mask: no padding, and a fake all-ones mask would cost a seq x seq mask
    assert sorted(inputs) == ["input_ids", "labels"]
    assert inputs["input_ids"].shape == (3, 16) and inputs["input_ids"].dtype == torch.int64
    assert int(inputs["input_ids"].min()) >= 0 and int(inputs["input_ids"].max()) < 100
    assert torch.equal(inputs["labels"], inputs["input_ids"])
    assert inputs["labels"].data_ptr() != inputs["input_ids"].data_ptr()  # its own tensor


def test_without_a_length_the_batch_has_the_default_length(tmp_path: Path) -> None:
    inputs, _ = _batch(load_workload(saved(tmp_path, "gpt2")), 2, None)
    assert inputs["input_ids"].shape == (2, 64)


def test_seq_cls_batches_have_one_label_per_row_below_num_labels(tmp_path: Path) -> None:
    inputs, _ = _batch(load_workload(saved(tmp_path, "bert-cls")), 64, 8)
    assert inputs["input_ids"].shape == (64, 8)
    assert inputs["labels"].shape == (64,) and inputs["labels"].dtype == torch.int64
    assert set(inputs["labels"].tolist()) == {0, 1, 2}


def test_masked_lm_batches_label_every_token(tmp_path: Path) -> None:
    inputs, _ = _batch(load_workload(saved(tmp_path, "bert-mlm")), 2, 8)
    assert torch.equal(inputs["labels"], inputs["input_ids"])


def test_seq2seq_batches_have_decoder_labels_of_the_same_length(tmp_path: Path) -> None:
    inputs, _ = _batch(load_workload(saved(tmp_path, "t5")), 2, 12)
    assert inputs["input_ids"].shape == (2, 12) and inputs["labels"].shape == (2, 12)
    assert int(inputs["labels"].max()) < 100


def test_a_decoder_classifier_gets_a_pad_id_so_batches_above_one_run(tmp_path: Path) -> None:
    target = saved(tmp_path, "gpt2")
    workload = load_workload(target, Task.SEQ_CLS)
    model = workload.build_model()
    assert model.config.pad_token_id == 99  # its end-of-text id
    inputs, _ = _batch(workload, 2, 8)
    assert model(**inputs).logits.shape == (2, 2)


def _parameter_bytes(model: Any) -> int:
    def unique(tensors: list[Any]) -> int:
        return sum(
            {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in tensors}.values()
        )

    return unique(list(model.parameters())) + unique(list(model.buffers()))


@pytest.mark.parametrize("family", ["llama", "gpt2", "bert-cls", "bert-mlm", "t5"])
def test_a_prediction_holds_the_real_models_parameter_bytes(family: str, tmp_path: Path) -> None:
    from bsprof.prediction import predict_iteration

    target = saved(tmp_path, family)
    workload = load_workload(target)
    config = SweepConfig(model=target, seq_lens=(16,), predict=True)
    prediction = predict_iteration(workload, config, 2, False)
    real = workload.build_model()
    assert prediction.parameters == _parameter_bytes(real)
    assert prediction.inputs > 0 and prediction.activations > 0
    assert prediction.predicted_peak_bytes > prediction.parameters * 4  # + grads + AdamW state
    if family == "llama":
        assert sum(p.numel() for p in real.parameters()) == TINY_LLAMA_PARAMETERS
        # ids and labels: two int64 tensors of 2 x 16 (no attention mask: no padding)
        assert prediction.inputs == 2 * 2 * 16 * 8


def test_the_real_model_has_initialised_random_weights(tmp_path: Path) -> None:
    workload = load_workload(saved(tmp_path, "llama", initializer_range=0.02))
    real = workload.build_model()
    std = float(real.model.embed_tokens.weight.detach().std())
    assert 0.015 < std < 0.025  # normal(0, initializer_range), not uninitialised memory


def test_gpt2s_lm_head_model_is_named_its_loss(tmp_path: Path) -> None:
    # "GPT2LMHeadModel" names no loss: transformers would warn on every loss without this
    model = load_workload(saved(tmp_path, "gpt2")).build_model()
    assert model.loss_type == "ForCausalLM"


def test_use_cache_is_off_for_training(tmp_path: Path) -> None:
    model = load_workload(saved(tmp_path, "llama")).build_model()
    assert model.config.use_cache is False


def test_the_weights_start_in_the_default_dtype_whatever_the_checkpoint_stores(
    tmp_path: Path,
) -> None:
    model = load_workload(saved(tmp_path, "llama", dtype="bfloat16")).build_model()
    assert {p.dtype for p in model.parameters()} == {torch.float32}


# ---- the parent's check, before any worker (no torch needed) ---------------------------------


def test_a_missing_hf_folder_is_refused_in_the_parent(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"^hf:\./nowhere: no such folder or config file$"):
        check_model_source("hf:./nowhere")


def test_a_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        check_model_source(f"hf:{tmp_path}")
    assert caught.value.message == f"hf:{tmp_path}: {tmp_path} has no config.json"


def test_a_hub_id_passes_the_parents_check() -> None:
    check_model_source("hf:meta-llama/Llama-3.1-8B", Task.CAUSAL_LM)


def test_hf_without_a_name_is_refused() -> None:
    with pytest.raises(ModelFileError, match=r"^hf:: no model named"):
        check_model_source("hf:")


def test_a_task_for_a_model_file_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text("")
    expected = f"{model}: --task seq-cls is for hf: models"
    with pytest.raises(ModelFileError, match=f"^{expected}"):
        check_model_source(str(model), Task.SEQ_CLS)
    with pytest.raises(ModelFileError, match=f"^{expected}"):
        load_workload(str(model), Task.SEQ_CLS)


# ---- the probe, which the sweeper asks before any trial ---------------------------------------


@pytest.mark.parametrize(("family", "expected"), [("gpt2", 64), (None, None)])
def test_the_probe_returns_the_default_length(
    family: str | None, expected: int | None, tmp_path: Path
) -> None:
    from bsprof.device import CPU
    from bsprof.runner.child import probe
    from bsprof.runner.jobs import ProbeJob

    target = saved(tmp_path, family) if family else str(ROOT / "examples" / "mnist_mlp.py")
    payload = probe(ProbeJob(SweepConfig(model=target, device=CPU)))
    assert payload["default_seq_len"] == expected


def test_robertas_usable_positions_leave_out_the_padding_offset(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.RobertaConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        vocab_size=100, max_position_embeddings=66, architectures=["RobertaForMaskedLM"],
    )  # fmt: skip
    config.save_pretrained(tmp_path / "roberta")
    workload = load_workload(f"hf:{tmp_path / 'roberta'}")
    assert workload.default_seq_len == 64  # the default fits too: 66 - (pad id 1 + 1)
    assert _batch(workload, 1, None)[0]["input_ids"].shape == (1, 64)
    assert _batch(workload, 1, 64)[0]["input_ids"].shape == (1, 64)
    with pytest.raises(ModelFileError, match="seq_len 65 is longer than the 64 positions"):
        _batch(workload, 1, 65)


def test_a_llama_prediction_at_256_tokens_is_exact_against_a_real_iteration(
    tmp_path: Path,
) -> None:
    """transformers skips the seq x seq mask only after reading an all-ones mask's values,
    which fake tensors lack: bsprof's batches have no mask, so both runs take one path."""
    import bsprof

    target = saved(tmp_path, "llama", max_position_embeddings=512)
    check = bsprof.predict(target, batch_sizes=[1, 2], seq_len=256).prediction_check
    assert check is not None and check.verified is True
    assert check.real_peak_bytes == check.predicted_peak_bytes
