"""assign_gpu: which GPU each node-local worker's trials use."""

from __future__ import annotations

from dataclasses import replace

from improve_hpo.runner import RunnerSettings, assign_gpu, oversubscription_warning

BASE = RunnerSettings(launcher="native", data_dir="/data", model_dir="/model")


def test_no_gpu_anywhere_means_cpu():
    assert assign_gpu(BASE, 0, {}) is None
    assert assign_gpu(BASE, 3, {"CUDA_VISIBLE_DEVICES": ""}) is None
    assert assign_gpu(BASE, 0, {"CUDA_VISIBLE_DEVICES": "-1"}) is None
    assert oversubscription_warning(BASE, 8, {}) is None


def test_gpus_flag_one_trial_per_gpu_distinct_per_worker():
    settings = replace(BASE, gpus=("0", "1", "2", "3"))
    assert [assign_gpu(settings, i, {}) for i in range(4)] == ["0", "1", "2", "3"]


def test_gpus_flag_wins_over_the_environment():
    settings = replace(BASE, gpus=("2", "3"))
    assert assign_gpu(settings, 0, {"CUDA_VISIBLE_DEVICES": "0,1"}) == "2"


def test_environment_list_is_shared_by_the_node_workers():
    environ = {"CUDA_VISIBLE_DEVICES": "4, 5,6"}
    assert [assign_gpu(BASE, i, environ) for i in range(3)] == ["4", "5", "6"]


def test_scheduler_gives_each_rank_its_own_gpu():
    # e.g. Slurm --gpus-per-task=1: every rank sees one id, whatever its local index.
    assert assign_gpu(BASE, 0, {"CUDA_VISIBLE_DEVICES": "3"}) == "3"
    assert assign_gpu(BASE, 5, {"CUDA_VISIBLE_DEVICES": "3"}) == "3"


def test_trials_per_gpu_fills_a_gpu_before_the_next():
    settings = replace(BASE, gpus=("0", "1"), trials_per_gpu=3)
    assert [assign_gpu(settings, i, {}) for i in range(6)] == ["0", "0", "0", "1", "1", "1"]
    assert oversubscription_warning(settings, 6, {}) is None


def test_more_workers_than_slots_wrap_around_with_a_warning():
    settings = replace(BASE, gpus=("0", "1"), trials_per_gpu=2)
    assert [assign_gpu(settings, i, {}) for i in range(6)] == ["0", "0", "1", "1", "0", "0"]
    warning = oversubscription_warning(settings, 6, {})
    assert "6 workers" in warning and "2 GPU(s) x --trials-per-gpu 2 = 4 slots" in warning


def test_uuid_ids_pass_through():
    environ = {"CUDA_VISIBLE_DEVICES": "GPU-1a2b,MIG-3c4d"}
    assert [assign_gpu(BASE, i, environ) for i in range(2)] == ["GPU-1a2b", "MIG-3c4d"]
