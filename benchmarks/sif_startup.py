"""A trial's start-up with a .sif and with a sandbox, on the real runtime (docs/runner.md).

    nice -n 10 python -m benchmarks.sif_startup [--repeats 3] [--padding-mb 150]

Makes the Debian 12 + python3 test image (../shared/runtime/make-image.sh), puts a no-op model
in it (train.sh prints its metric at once), builds a SIF of it and a second SIF padded with
incompressible data to the size of a small real model image, then runs one trial of each
through the runner (`run_trial`, the engine's own code): the trial's wall time is its start-up
cost. A SIF is also timed after `--unpack-sif` has unpacked it (i.e. its sandbox). Prints one
table row per image; run as root with the runtime installed (tests/run.sh installs it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from container_images import RUNTIME, RUNTIME_FILES, model_scripts  # noqa: E402

from improve_hpo.runner import WorkerContext, run_trial  # noqa: E402
from improve_hpo.runner.options import add_runner_arguments, settings_from_args  # noqa: E402

WORKER = WorkerContext(rank=0, local_rank=0, host="bench", gpu=None)


def settings(image: Path, data: Path):
    parser = argparse.ArgumentParser()
    add_runner_arguments(parser)
    return settings_from_args(parser.parse_args(
        ["--sif", str(image), "--data-dir", str(data), "--container-runtime", str(RUNTIME)]))


def trial_seconds(image: Path, data: Path, folder: Path, repeats: int) -> list[float]:
    runner = settings(image, data)
    times = []
    for attempt in range(repeats):
        start = time.monotonic()
        result = run_trial(runner, {}, folder / f"t{attempt}", folder, WORKER)
        times.append(time.monotonic() - start)
        assert result.status == "ok", result.reason
    return times


def build(tmp: Path, padding_mb: int) -> dict[str, Path]:
    sandbox = tmp / "sandbox"
    subprocess.run(["bash", str(RUNTIME_FILES / "make-image.sh"), str(sandbox)], check=True,
                   capture_output=True)
    for name, text in model_scripts().items():
        path = sandbox / "usr" / "local" / "bin" / name
        path.write_text(text)
        path.chmod(0o755)
    small = tmp / "model.sif"
    subprocess.run([str(RUNTIME), "build", str(small), str(sandbox)], check=True,
                   capture_output=True)
    (sandbox / "opt" / "weights.bin").write_bytes(os.urandom(padding_mb << 20))
    padded = tmp / "model-padded.sif"
    subprocess.run([str(RUNTIME), "build", str(padded), str(sandbox)], check=True,
                   capture_output=True)
    unpacked = tmp / "unpacked"
    subprocess.run([str(RUNTIME), "build", "--sandbox", str(unpacked), str(padded)], check=True,
                   capture_output=True)
    return {"sandbox (unpacked SIF)": unpacked, f"SIF {_mb(small)} MB": small,
            f"SIF {_mb(padded)} MB": padded}


def _mb(path: Path) -> int:
    return round(path.stat().st_size / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--padding-mb", type=int, default=150)
    args = parser.parse_args()
    if RUNTIME is None:
        sys.exit("sif_startup: the real runtime is not installed (see tests/container_images.py)")
    with tempfile.TemporaryDirectory(prefix="sif-startup-") as tmp:
        tmp = Path(tmp)
        images = build(tmp, args.padding_mb)
        data = tmp / "data"
        data.mkdir()
        version = subprocess.check_output([str(RUNTIME), "--version"], text=True).strip()
        print(f"runtime: {RUNTIME} ({version})")
        print("| image | trial start-up, median of %d (s) | all (s) |" % args.repeats)
        print("|---|---|---|")
        for label, image in images.items():
            times = trial_seconds(image, data, tmp / label.replace(" ", "_"), args.repeats)
            print(f"| {label} | {statistics.median(times):.2f} | "
                  f"{', '.join(f'{t:.2f}' for t in times)} |", flush=True)


if __name__ == "__main__":
    main()
