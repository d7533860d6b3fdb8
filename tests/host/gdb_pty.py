#!/usr/bin/env python3
"""gdb_pty.py: run gdb on a pseudo-terminal and press Ctrl-C like a user.

usage: gdb_pty.py OUT MARKER DELAY TIMEOUT -- CMD [ARGS...]

Runs CMD (gdb -batch ...) with a new pty as its controlling terminal and
copies what it prints (carriage returns dropped) to OUT. Once a line equal to
MARKER has appeared, waits DELAY seconds and types Ctrl-C: the byte 0x03
goes into the terminal, whose line discipline sends SIGINT to gdb, exactly as
a key press does; gdb, with the remote target running in the foreground,
passes it on as the protocol's interrupt byte. Types it again every DELAY
seconds until gdb printed a line with "SIGINT" (at most 3 presses). Kills
CMD after TIMEOUT seconds. Exit status: CMD's (124 on the timeout).

(Sending SIGINT to a gdb whose stdin is not a terminal did not work here:
gdb 13 took it as a quit request of its own, a Python KeyboardInterrupt,
instead of passing it to the target.)
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        sys.stderr.write(__doc__)
        return 2
    out_path, marker = sys.argv[1], sys.argv[2]
    delay, timeout = float(sys.argv[3]), float(sys.argv[4])
    cmd = sys.argv[6:]

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "dumb"     # no styling escapes in the output
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    start = time.monotonic()
    buf = b""
    armed_at = None     # when MARKER was seen
    presses = 0
    seen_sigint = False
    status = None
    with open(out_path, "wb") as out:
        while True:
            now = time.monotonic()
            if now - start > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = 124
                break
            if armed_at is not None and not seen_sigint and presses < 3 and \
                    now - armed_at >= delay * (presses + 1):
                os.write(fd, b"\x03")
                presses += 1
            try:
                r, _, _ = select.select([fd], [], [], 0.1)
            except InterruptedError:
                continue
            if not r:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:         # EIO: gdb closed the terminal (exited)
                data = b""
            if not data:
                _, st = os.waitpid(pid, 0)
                status = os.waitstatus_to_exitcode(st)
                break
            data = data.replace(b"\r", b"")
            out.write(data)
            out.flush()
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                if armed_at is None and text == marker:
                    armed_at = time.monotonic()
                if armed_at is not None and "SIGINT" in text:
                    seen_sigint = True
        if buf:
            out.write(buf)
    sys.stderr.write("gdb_pty: %d Ctrl-C press(es)\n" % presses)
    return status if status is not None else 1


if __name__ == "__main__":
    sys.exit(main())
