"""One writer per experiment folder, on local disks and on cluster file systems.

Two mechanisms, both always used, because neither is enough alone:

1. `flock` on OUT/ledger.lock. It refuses a second run at once and is released by the kernel
   when the writer dies. But it is not there everywhere (Lustre without the `flock` mount
   option returns ENOSYS/ENOLCK), and where it is there it may be node-local only (Lustre's
   `localflock`, NFS mounted with `nolock`): a run on another node would get it too.
2. A lease, OUT/ledger.owner: a small JSON record {host, pid, start time of the process, token,
   heartbeat}, created atomically with link(2) (atomic on NFS too), rewritten (write + rename)
   every HEARTBEAT_SECONDS while the writer lives and removed when it closes. A second run
   reads it and refuses while the owner is alive: on the same host, the pid with the same start
   time still exists; on another host, its heartbeat moves (watched for up to STALE_SECONDS, so
   that the hosts' clocks never matter). A lease whose owner is dead (kill -9, a lost node) is
   taken over; the caller says so.

`holder(out)` reads the lease for readers (report, --dry-run): who writes, and whether it is
alive, judged without waiting.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.reports.progress import write_line

LOCK_NAME = "ledger.lock"
OWNER_NAME = "ledger.owner"
HEARTBEAT_SECONDS = 10.0
# A lease whose heartbeat did not move for this long belongs to a dead run.
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
_WATCH_PAUSE = 0.5
# flock errors that mean "this file system has no (working) flock", not "another run holds it".
_NO_FLOCK = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


@dataclass(frozen=True)
class Holder:
    """What a lease says: which process writes the experiment."""

    host: str
    pid: int
    process_start: str  # /proc/<pid>/stat start time, against pid reuse
    token: str
    heartbeat: int
    time: float  # the owner's clock at its last heartbeat (display only)

    @property
    def here(self) -> bool:
        return self.host == socket.gethostname()

    def alive_here(self) -> bool:
        """On this host: the process still exists and is the same one (same start time)."""
        return _process_start(self.pid) == self.process_start

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


def holder(out: Path) -> tuple[Holder | None, bool]:
    """(the lease's holder or None, whether it looks alive now). On another host "alive" means
    a heartbeat within STALE_SECONDS by this host's clock (readers use it for display only)."""
    owner = _read(Path(out) / OWNER_NAME)
    if owner is None:
        return None, False
    if owner.here:
        return owner, owner.alive_here()
    return owner, time.time() - owner.time < STALE_SECONDS + 60.0  # clocks differ a little


class WriterLock:
    """Held by the run that writes OUT's ledger, from acquire() to release()."""

    def __init__(self, out: Path, say=None):
        self.out = Path(out)
        self.say = say or _say
        self.token = secrets.token_hex(8)
        self.flock_works = False
        self._handle = None
        self._beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking and giving back --------------------------------------------------------------------
    def acquire(self) -> "WriterLock":
        self._take_flock()
        try:
            self._take_lease()
        except BaseException:
            self._close_flock()
            raise
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name="improve-hpo-ledger-heartbeat")
        self._thread.start()
        return self

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        owner = _read(self.out / OWNER_NAME)
        if owner is not None and owner.token == self.token:
            _unlink(self.out / OWNER_NAME)
        self._close_flock()

    def _take_flock(self) -> None:
        path = self.out / LOCK_NAME
        try:
            self._handle = open(path, "a")  # noqa: SIM115 - held until release()
        except OSError as error:
            raise UsageError(f"{self.out}: cannot write there ({error.strerror}); choose "
                             "another --output") from None
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.flock_works = True
        except BlockingIOError:
            self._close_flock()
            owner = _read(self.out / OWNER_NAME)
            raise UsageError(_busy(self.out, owner)) from None
        except OSError as error:
            if error.errno not in _NO_FLOCK:
                raise
            # No flock here: the lease alone keeps a second run out (see the module's doc).

    def _close_flock(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _take_lease(self) -> None:
        path = self.out / OWNER_NAME
        for _ in range(3):  # a lease that vanished while we looked: try again
            if self._create(path):
                return
            owner = _read(path)
            if owner is None:
                if path.exists():  # unreadable (a torn copy): treat it as dead
                    _unlink(path)
                continue
            if self._alive(owner):
                raise UsageError(_busy(self.out, owner))
            self.say(f"the run that held {self.out} ({owner.describe()}) is gone; taking over "
                     "its experiment")
            _unlink_if(path, owner.token)
        raise UsageError(f"{self.out}: could not take the lease {OWNER_NAME} (other runs keep "
                         "starting here); wait for them to end or choose another --output")

    def _alive(self, owner: Holder) -> bool:
        if owner.here:
            return owner.alive_here()
        # Another host: watch its heartbeat move (clocks of two hosts never compared).
        self.say(f"{self.out} is held by {owner.describe()}; watching its heartbeat for up to "
                 f"{STALE_SECONDS:g} s to see whether it still runs")
        deadline = time.monotonic() + STALE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(_WATCH_PAUSE)
            now = _read(self.out / OWNER_NAME)
            if now is None or now.token != owner.token:
                return now is not None  # released, or taken by another run meanwhile
            if now.heartbeat != owner.heartbeat:
                return True
        return False

    def _create(self, path: Path) -> bool:
        """Create the lease atomically (link fails if it exists); False when it exists."""
        temporary = self._write_temporary()
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        except OSError:
            # NFS may report a failed link that happened: the link count tells (see link(2)).
            return os.stat(temporary).st_nlink == 2
        finally:
            _unlink(temporary)

    def _write_temporary(self) -> Path:
        record = dict(host=socket.gethostname(), pid=os.getpid(),
                      process_start=_process_start(os.getpid()), token=self.token,
                      heartbeat=self._beats, time=time.time())
        temporary = self.out / f"{OWNER_NAME}.{self.token}.{self._beats}"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        return temporary

    def _beat(self) -> None:
        """Rewrite the lease every HEARTBEAT_SECONDS (write a new file, rename it over)."""
        while not self._stop.wait(HEARTBEAT_SECONDS):
            owner = _read(self.out / OWNER_NAME)
            if owner is None or owner.token != self.token:
                self.say(f"warning: the lease {self.out / OWNER_NAME} was taken by another "
                         "run; two runs may now write this experiment")
                return
            self._beats += 1
            try:
                os.replace(self._write_temporary(), self.out / OWNER_NAME)
            except OSError:
                pass  # a full disk: the next beat tries again (the run itself reports it)


def _say(line: str) -> None:
    write_line(f"improve-hpo: {line}")  # above the run's progress bar (the heartbeat's warning)


def _busy(out: Path, owner: Holder | None) -> str:
    who = f" ({owner.describe()})" if owner is not None else ""
    return (f"{out}: another improve-hpo run is using this output folder{who}; wait for it to "
            "end or choose another --output")


def _read(path: Path) -> Holder | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Holder(host=str(record["host"]), pid=int(record["pid"]),
                      process_start=str(record["process_start"]), token=str(record["token"]),
                      heartbeat=int(record["heartbeat"]), time=float(record["time"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _process_start(pid: int) -> str:
    """The start time of process `pid` in clock ticks since boot ("" when it does not exist, or
    has ended and only waits to be reaped: a zombie holds no lock)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return ""
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return ""
    return fields[19].decode()


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _unlink_if(path: Path, token: str) -> None:
    """Remove the lease if it is still the one with `token` (not one a faster run just made)."""
    owner = _read(path)
    if owner is not None and owner.token == token:
        _unlink(path)


def posix_locks_refusal(folder: Path) -> str | None:
    """The message for a file system without POSIX (fcntl) locks, which SQLite needs; None when
    they work."""
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            fcntl.lockf(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(probe, fcntl.LOCK_UN)
        return None
    except OSError as error:
        if error.errno not in _NO_FLOCK:
            return None
        reason = os.strerror(error.errno)
    return (f"{folder}: this file system gives no POSIX locks ({reason}), "
            "which the SQLite ledger needs; on Lustre mount it with -o flock (or -o "
            "localflock: the ledger's lease then keeps other nodes out), on NFS run its lock "
            "service (or mount with -o nolock); or give an --output on a file system with "
            "locks")
