"""`improve-hpo run`: choose where trials run, then drive the experiment on rank 0.

- under mpirun/mpiexec with N > 1 ranks: rank 0 checks the command line and drives; ranks
  1..N-1 serve trials through mpi4py.futures.MPICommExecutor;
- --workers K: K local worker processes (no MPI);
- otherwise: one worker, in this process.
With --dry-run, the same checks run and the plan is printed instead (experiment/dry_run.py).
Rank 0 alone checks the options and writes OUT (besides the trial and preprocess folders the
workers fill); a usage error is printed once, by rank 0, and every rank exits with 2.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager

from improve_hpo.errors import UsageError, WorkerStartFailed
from improve_hpo.experiment.deadline import DEADLINE_META, deadline_from_args
from improve_hpo.experiment.driver import Driver, say
from improve_hpo.experiment.dry_run import dry_run
from improve_hpo.experiment.idle_workers import idle_worker_warnings
from improve_hpo.experiment.setup import (algorithm_for, experiment_from_args, open_output,
                                         workers_from_args)
from improve_hpo.experiment.signals import StopRequest, ending_on_storage_fault
from improve_hpo.parallel import mpi, sockets
from improve_hpo.parallel.context import start_worker
from improve_hpo.parallel.executors import InlineExecutor, interrupt_pool_workers, process_pool
from improve_hpo.runner import oversubscription_warning
from improve_hpo.runner.sif_unpack import prepare_image

# After a stop, how long rank 0 waits for the workers (which got the signal too: mpiexec and
# Slurm signal every rank) to kill their trials and report back before it aborts the job.
STOP_GRACE_SECONDS = 5.0


def run_experiment(args) -> int:
    comm = mpi.world()
    if args.dry_run:
        return dry_run(args, comm)
    if comm.Get_size() > 1:
        return _run_mpi(args, comm)
    workers = workers_from_args(args, 1)
    experiment = experiment_from_args(args)
    deadline = deadline_from_args(args, space=experiment.space)
    ledger, _ = open_output(experiment)
    experiment = _image_prepared(experiment)
    _warn_idle(experiment, workers)
    stop = StopRequest()
    with ledger:
        if args.workers is None:
            start_worker(0, 0, experiment.runner)  # the runner's handlers kill a trial
            stop.install(chain_runner=True)
            return _drive(experiment, ledger, InlineExecutor(), 1, stop, deadline=deadline,
                          where="trials run one at a time in this process")
        _warn_oversubscription(experiment.runner, args.workers)
        stop.install(chain_runner=False)
        with process_pool(args.workers, experiment.runner, trial_processes=True) as executor:
            return _drive(experiment, ledger, executor, args.workers, stop,
                          on_stop=interrupt_pool_workers, deadline=deadline,
                          where="local worker processes")


def _run_mpi(args, comm) -> int:
    rank = comm.Get_rank()
    experiment = ledger = error = deadline = None
    if rank == 0:
        try:
            sockets.check_transport()
            workers = workers_from_args(args, comm.Get_size())
            experiment = experiment_from_args(args)
            deadline = deadline_from_args(args, space=experiment.space)
            ledger, _ = open_output(experiment)
            experiment = _image_prepared(experiment)
            _warn_idle(experiment, workers)
        except UsageError as caught:
            error = caught
    mpi.quiet_barrier(comm)  # the workers sleep while rank 0 sets up
    runner = comm.bcast(experiment.runner if rank == 0 and error is None else None, root=0)
    if runner is None:
        if error is not None:
            raise error
        return 2  # rank 0 printed the message
    index, local_workers = mpi.worker_index_on_node(comm)  # collective: every rank
    if rank != 0:
        start_worker(rank, index, runner)
        if index == 0:
            _warn_oversubscription(runner, local_workers)
    stop = StopRequest()
    if rank == 0:
        stop.install(chain_runner=False)
    with _closed_if_no_workers(ledger), mpi.executor(comm) as executor:
        if executor is None:
            return 0  # a worker rank: it served until rank 0 shut the executor down
        with ledger:
            driver = driver_for(experiment, ledger, executor, comm.Get_size() - 1, stop,
                                deadline=deadline, where=f"MPI ranks 1..{comm.Get_size() - 1}")
            with _closing(driver):
                code = ending_on_storage_fault(driver.run, lambda code: mpi.abort(comm, code))
        if not driver.wait_running(STOP_GRACE_SECONDS):
            mpi.abort(comm, code)  # workers busy with trials nobody waits for any more
        return code


@contextmanager
def _closed_if_no_workers(ledger):
    """Rank 0: close the ledger when the workers did not start (errors.WorkerStartFailed, raised
    as the executor starts, before `with ledger`): its lock is released for the next run."""
    try:
        yield
    except WorkerStartFailed:
        if ledger is not None:
            ledger.close()
        raise


def _drive(experiment, ledger, executor, workers, stop, on_stop=None, deadline=None,
           where="") -> int:
    with _closing(driver_for(experiment, ledger, executor, workers, stop, on_stop,
                             deadline, where)) as driver:
        return ending_on_storage_fault(driver.run,
                                       None if on_stop is None else lambda code: on_stop())


def driver_for(experiment, ledger, executor, workers, stop, on_stop=None, deadline=None,
               where="") -> Driver:
    """The Driver of this session (also the Python API's): its algorithm (the sessions are
    counted in the ledger) and its deadline, which learns from the earlier sessions' trials."""
    if deadline is not None:
        for record in ledger.trials():  # the durations of earlier sessions predict too
            deadline.record(record)
        ledger.set_meta(DEADLINE_META, deadline.to_json())
        say(deadline.describe())
    return Driver(experiment, ledger, _algorithm(experiment, ledger), executor, workers, stop,
                  on_stop, deadline, where=where)


@contextmanager
def _closing(driver):
    try:
        yield driver
    finally:
        driver.close()


def _algorithm(experiment, ledger):
    """The search algorithm of this session (counted in the ledger)."""
    sessions = int(ledger.meta("sessions") or 0)
    ledger.set_meta("sessions", str(sessions + 1))
    return algorithm_for(experiment, sessions)


def _image_prepared(experiment):
    """A .sif the runtime would unpack on every exec is unpacked once, under OUT (rank 0, before
    any trial; the workers get the settings that name the sandbox)."""
    return dataclasses.replace(experiment,
                               runner=prepare_image(experiment.runner, experiment.out, say))


def _warn_idle(experiment, workers: int) -> None:
    for warning in idle_worker_warnings(experiment, workers):
        say(f"warning: {warning}")


def _warn_oversubscription(runner, local_workers: int) -> None:
    warning = oversubscription_warning(runner, local_workers, os.environ)
    if warning:
        say(f"warning: {warning}")
