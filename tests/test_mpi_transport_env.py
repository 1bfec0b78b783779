"""A misspelt IMPROVE_HPO_MPI_TASKS is a usage error under mpiexec (real mpiexec, real run):
exit 2, the message once, nothing written."""

from __future__ import annotations

import os
import subprocess

import pytest
from engine_models.harness import command, write_space

from improve_hpo.parallel import sockets


@pytest.mark.parametrize("dry", [False, True])
def test_an_unknown_task_transport_is_refused_before_anything_starts(tmp_path, dry):
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 4, "--generations", 1,
                   *(["--dry-run"] if dry else []), space=write_space(tmp_path), out=out,
                   ranks=3)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, sockets.TRANSPORT_ENV: "mpi4py"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("IMPROVE_HPO_MPI_TASKS='mpi4py' is not a task transport: use "
                             "'sockets' (the default) or 'mpi'") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
