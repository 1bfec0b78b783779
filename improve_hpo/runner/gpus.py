"""Which GPU a worker's trials use.

Ids come from --gpus, else from the CUDA_VISIBLE_DEVICES the scheduler gave the process. Worker
number i on a node takes ids[(i // trials_per_gpu) % len(ids)]: consecutive workers fill one GPU
up to --trials-per-gpu before moving to the next, and workers beyond GPUs x trials-per-gpu wrap
around (and `oversubscription_warning` says so). No ids means the CPU (None).
"""

from __future__ import annotations

from collections.abc import Mapping

from improve_hpo.runner.settings import NO_GPU, RunnerSettings


def visible_gpus(settings: RunnerSettings, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The GPU ids this node's workers share: --gpus, else CUDA_VISIBLE_DEVICES (empty or -1
    means none)."""
    if settings.gpus is not None:
        return settings.gpus
    listed = environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = tuple(item.strip() for item in listed.split(",") if item.strip())
    return () if ids in ((), (NO_GPU,)) else ids


def assign_gpu(settings: RunnerSettings, local_worker_index: int,
               environ: Mapping[str, str]) -> str | None:
    """The GPU id for node-local worker `local_worker_index`, or None for the CPU."""
    ids = visible_gpus(settings, environ)
    if not ids:
        return None
    return ids[(local_worker_index // settings.trials_per_gpu) % len(ids)]


def oversubscription_warning(settings: RunnerSettings, local_workers: int,
                             environ: Mapping[str, str]) -> str | None:
    """A warning line when more workers share a node than GPUs x --trials-per-gpu, else None."""
    ids = visible_gpus(settings, environ)
    capacity = len(ids) * settings.trials_per_gpu
    if not ids or local_workers <= capacity:
        return None
    return (f"{local_workers} workers on this node but {len(ids)} GPU(s) x --trials-per-gpu "
            f"{settings.trials_per_gpu} = {capacity} slots: some GPUs run more trials at once "
            "than --trials-per-gpu")
