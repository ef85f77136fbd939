"""Errors a user can fix. The CLI prints the message as one line and exits 2; the page
shows it in a box. Everything else is a bug and keeps its traceback.

The machine's faults are told the same way: an `OSError` from the file system (a full disk, a
read-only or foreign-owned data directory, a file where a folder should be) becomes one line
that names the path, what happened and what to do (`filesystem_problem`)."""

from __future__ import annotations

import errno


class UserError(Exception):
    pass


# errno -> (what happened, what to do). What was stored before stays intact in every case:
# media copies and models are written to a temporary name and renamed, points go through the
# store's write-ahead log, and a load stops before the disk is so full that the store could not.
ELSEWHERE = "or set CBIR_HOME to a data directory elsewhere"
AGAIN = "then run the same command again: what was stored so far is kept"
_ADVICE = {
    errno.ENOSPC: ("no space left on the device", f"free some space, {ELSEWHERE}, {AGAIN}"),
    errno.EDQUOT: ("the disk quota is used up", f"free some of your files, {ELSEWHERE}, {AGAIN}"),
    errno.EROFS: ("the file system is read-only", "set CBIR_HOME to a folder this user can write to"),
    errno.EACCES: ("permission denied", f"make the data directory writable by this user (chown, chmod), {ELSEWHERE}"),
    errno.EPERM: ("operation not permitted", f"make the data directory writable by this user, {ELSEWHERE}"),
    errno.ENOTDIR: ("a file stands where a folder should be", f"move that file away, {ELSEWHERE}"),
    errno.EISDIR: ("a folder stands where a file should be", f"move that folder away, {ELSEWHERE}"),
    errno.EEXIST: ("something else already stands there", f"move it away, {ELSEWHERE}"),
}


def filesystem_problem(exc: OSError) -> str:
    """One line for a file-system fault: `<path>: <what happened>: <what to do>`."""
    # An error without an errno (None) finds no advice, as 0 finds none.
    what, todo = _ADVICE.get(
        exc.errno or 0, (exc.strerror or str(exc), "check the disk and the data directory (CBIR_HOME)")
    )
    return f"{exc.filename or 'the data directory'}: {what}: {todo}"
