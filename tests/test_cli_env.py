"""The CLI's process environment: library chatter kept off stdout."""

from __future__ import annotations

import os

import safealign.cli as cli


def test_deepspeed_told_cpu_when_no_gpu_device(monkeypatch) -> None:
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    monkeypatch.setattr(cli, "_has_accelerator_device", lambda: False)
    cli._quiet_libraries()

    assert os.environ["DS_ACCELERATOR"] == "cpu"


def test_deepspeed_left_to_detect_a_gpu(monkeypatch) -> None:
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    monkeypatch.setattr(cli, "_has_accelerator_device", lambda: True)
    cli._quiet_libraries()

    assert "DS_ACCELERATOR" not in os.environ


def test_a_users_choice_is_kept(monkeypatch) -> None:
    monkeypatch.setenv("DS_ACCELERATOR", "xpu")
    monkeypatch.setattr(cli, "_has_accelerator_device", lambda: False)
    cli._quiet_libraries()

    assert os.environ["DS_ACCELERATOR"] == "xpu"
