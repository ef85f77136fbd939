"""The peak memory of a command a benchmark runs, read from the child's own `/proc/PID/status`
(VmHWM, the high-water mark of its address space) while it runs.

Not `ru_maxrss`: Python starts a child with vfork, and the kernel carries the high-water mark of
the address space it leaves at the exec, the parent's, into the child's `ru_maxrss`. A benchmark
that held 1.5 GB of decoded photos reported that as the load's own peak (docs/benchmarks.md,
"Machines")."""

from __future__ import annotations

import threading


class PeakMemory:
    """with PeakMemory(child.pid) as peak: ... child.wait() ...; then peak.mb. Sampled every
    `every_s`: growth in the child's last moments is missed, and a load's peak is not there."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.pid, self.every_s, self.mb = pid, every_s, 0
        # The largest RssAnon seen: the memory the child allocated, without the pages of the
        # libraries it maps (the files of a CUDA build of torch alone are 550 MB resident).
        self.anon_mb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            high_water, anon = self._status_mb()
            self.mb, self.anon_mb = max(self.mb, high_water), max(self.anon_mb, anon)
            self._stop.wait(self.every_s)

    def _status_mb(self) -> tuple[int, int]:
        """(VmHWM, RssAnon) in MB; 0 for an exited child, not yet reaped, which has no address
        space left."""
        found = {"VmHWM:": 0, "RssAnon:": 0}
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    key = line.split(maxsplit=1)[0] if line.strip() else ""
                    if key in found:
                        found[key] = int(line.split()[1]) // 1024  # kB
        except OSError:  # gone, or not Linux
            pass
        return found["VmHWM:"], found["RssAnon:"]
