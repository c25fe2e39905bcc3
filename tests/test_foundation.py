import os
import subprocess
import sys
from pathlib import Path

import pytest

from safealign.errors import ModelNotFoundError
from safealign.models.loading import resolve_model
from safealign.utils.atomic import atomic_dir, atomic_write_json


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.bin").write_text("x")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "full.bin").write_text("ok")
    assert (target / "full.bin").read_text() == "ok"
    with atomic_dir(target) as tmp:  # replacing an existing folder
        (tmp / "new.bin").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").read_text().strip().startswith("{")


def test_missing_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model(str(tmp_path / "nope"))


def test_missing_hub_model_says_offline(tmp_path):
    from safealign.models.loading import load_tokenizer

    env_off = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with pytest.raises(ModelNotFoundError, match="offline"):
            load_tokenizer("some-org/definitely-not-a-model-xyz")
    finally:
        if env_off is None:
            os.environ.pop("HF_HUB_OFFLINE")


def test_cli_help_and_one_line_error(tmp_path):
    exe = [sys.executable, "-m", "safealign"]
    res = subprocess.run(exe + ["--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for group in ["data", "train", "eval"]:
        assert group in res.stdout


def test_default_conversion_is_atomic(tmp_path, monkeypatch):
    """A conversion killed mid-way leaves no folder that later loads as the model."""
    import safealign.models.loading as loading

    monkeypatch.setenv("SAFEALIGN_CACHE", str(tmp_path))

    class Boom(Exception):
        pass

    def fake_save(self, path, *a, **k):  # the model writes part of its files, then the process "dies"
        Path(path, "config.json").write_text("{}")
        raise Boom()

    import transformers

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", fake_save)
    with pytest.raises(Boom):
        loading.ensure_default_model()
    assert not loading.default_model_dir().exists()


@pytest.mark.slow
def test_default_model_loads_and_chats(default_model_dir):
    from safealign.backends.base import GenerationParams
    from safealign.backends.local import LocalBackend
    from safealign.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("default")
    assert tok.chat_template
    assert getattr(model, "hf_quantizer", None) is None  # reloaded from the safetensors cache, no GGUF quantizer
    chat = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What colour is the sky?"},
    ]
    rendered = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert "You answer in one short sentence." in rendered
    out = LocalBackend(model, tok).generate([chat], GenerationParams(max_new_tokens=12, temperature=0))
    assert out[0].strip()
    # the cache reloads without the GGUF quantizer and can be trained
    import torch

    enc = tok(["The sky is blue because of scattering."], return_tensors="pt")
    loss = model(**enc, labels=enc["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss)


def test_trainer_with_unreachable_hub_model_is_one_line(tmp_path):
    """A hub id that is not cached, offline, must not surface as a transformers traceback in any command."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res = subprocess.run(
        [
            sys.executable, "-m", "safealign", "train", "reward", "--model", "some-org/definitely-not-a-model-xyz",
            "--data", "demo:safety_train", "--output-dir", str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "offline?" in res.stderr and "some-org/definitely-not-a-model-xyz" in res.stderr


def test_atomic_writes_get_normal_permissions(tmp_path):
    """mkstemp/mkdtemp create 0600/0700; our files and folders get the permissions a plain open() would give."""
    from safealign.utils import atomic

    atomic.atomic_write_text(tmp_path / "r.html", "<html></html>")
    with atomic.atomic_dir(tmp_path / "model") as tmp:
        (tmp / "w.bin").write_bytes(b"1")
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~atomic._UMASK


def test_an_interrupted_atomic_file_keeps_the_old_one_and_torch_objects_are_saved_whole(tmp_path):
    import torch

    from safealign.utils import atomic

    target = tmp_path / "critic.pt"
    atomic.atomic_torch_save({"w": torch.arange(3.0)}, target)
    assert torch.equal(torch.load(target)["w"], torch.arange(3.0))
    assert target.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
    with pytest.raises(RuntimeError):
        with atomic.atomic_file(target, "wb") as f:
            f.write(b"half a tensor")
            raise RuntimeError("killed while writing")
    assert torch.equal(torch.load(target)["w"], torch.arange(3.0))  # the previous complete file is still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["critic.pt"]  # and no temporary file is left behind


def test_quiet_library_bars_turns_off_the_trainers_and_datasets_bars_and_back():
    """The demo draws one bar per stage: inside quiet_library_bars the Trainer (TRL runs) gets disable_tqdm and
    datasets' map bars are off; outside, both are as before."""
    import datasets

    from safealign.train.trl_runner import TRLTrainConfig, trainer_kwargs
    from safealign.ui import quiet_library_bars

    cfg = TRLTrainConfig(output_dir="runs/x")
    assert trainer_kwargs(cfg, 1e-4)["disable_tqdm"] is False and datasets.is_progress_bar_enabled()
    with quiet_library_bars():
        assert trainer_kwargs(cfg, 1e-4)["disable_tqdm"] is True and not datasets.is_progress_bar_enabled()
    assert trainer_kwargs(cfg, 1e-4)["disable_tqdm"] is False and datasets.is_progress_bar_enabled()
    with quiet_library_bars(quiet=False):  # --verbose
        assert trainer_kwargs(cfg, 1e-4)["disable_tqdm"] is False
