#!/usr/bin/env python3
"""progress_pty.py: run a command with stderr on a pseudo-terminal or on a
pipe and write what came out on stderr, byte for byte, to OUT.

usage: progress_pty.py pty|pipe OUT -- CMD [ARGS...]

pty: stderr (and stdin) are the slave side of a new pty, stdout goes to
/dev/null, so that only what the command writes on stderr is captured;
pipe: stderr is a pipe. Exit status: CMD's (124 after 120 s).
"""
import os
import pty
import select
import signal
import subprocess
import sys
import time


def run_pty(cmd):
    master, slave = pty.openpty()
    null = os.open(os.devnull, os.O_WRONLY)
    p = subprocess.Popen(cmd, stdin=slave, stdout=null, stderr=slave, close_fds=True)
    os.close(slave)
    os.close(null)
    buf, start = b"", time.monotonic()
    while True:
        if time.monotonic() - start > 120:
            p.send_signal(signal.SIGKILL)
            p.wait()
            return 124, buf
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:     # EIO: the slave side is closed, all read
                data = b""
            if not data:
                break
            buf += data
        elif p.poll() is not None:
            # The child is gone; drain what is left.
            try:
                while select.select([master], [], [], 0.05)[0]:
                    data = os.read(master, 65536)
                    if not data:
                        break
                    buf += data
            except OSError:
                pass
            break
    return p.wait(), buf


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--" or sys.argv[1] not in ("pty", "pipe"):
        sys.stderr.write(__doc__)
        return 2
    mode, out, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    if mode == "pty":
        st, buf = run_pty(cmd)
    else:
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
            st, buf = p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            st, buf = 124, e.stderr or b""
    with open(out, "wb") as f:
        f.write(buf)
    return st


sys.exit(main())
