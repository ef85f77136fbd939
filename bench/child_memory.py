"""The peak memory of a command a benchmark runs, read from the child's own `/proc/PID/status`
(VmHWM, the high-water mark of its address space) while it runs.

Not `ru_maxrss`: Python starts a child with vfork, and the kernel carries the high-water mark of
the address space it leaves at the exec, the parent's, into the child's `ru_maxrss`. A benchmark
that held 1.5 GB of decoded photos reported that as the load's own peak (docs/measurements.md,
"How a load's peak memory is measured")."""

from __future__ import annotations

import threading


class PeakMemory:
    """with PeakMemory(child.pid) as peak: ... child.wait() ...; then peak.mb. Sampled every
    `every_s`: growth in the child's last moments is missed, and a load's peak is not there."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.pid, self.every_s, self.mb = pid, every_s, 0
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
            self.mb = max(self.mb, self._high_water_mb())
            self._stop.wait(self.every_s)

    def _high_water_mb(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024  # kB
        except OSError:  # gone, or not Linux
            pass
        return 0  # an exited child, not yet reaped, has no address space left
