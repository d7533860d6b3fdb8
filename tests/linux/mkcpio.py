#!/usr/bin/env python3
"""mkcpio.py OUT ENTRY...: write a gzip'd newc cpio archive without root.

ENTRY is one of
  dir:PATH:MODE                 a directory
  file:PATH:MODE:SOURCE         a regular file with SOURCE's bytes
  nod:PATH:MODE:c|b:MAJOR:MINOR a device node (no mknod, so no root needed)
  slink:PATH:TARGET             a symbolic link
Owner is 0:0 and mtime 0 for every entry, so the archive is reproducible.
The newc layout: a 110-byte ASCII header, the name with its NUL, padding to
4 bytes, the data, padding to 4 bytes; the TRAILER!!! entry ends it.
"""
import gzip
import stat
import sys


def header(ino, mode, size, name, rmaj=0, rmin=0, nlink=1):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name) + 1, 0]
    h = b"070701" + b"".join(b"%08x" % f for f in fields)
    h += name.encode() + b"\0"
    return h + b"\0" * (-len(h) % 4)


def main():
    out, entries = sys.argv[1], sys.argv[2:]
    blob = bytearray()
    for ino, e in enumerate(entries, 1):
        kind, rest = e.split(":", 1)
        if kind == "dir":
            path, mode = rest.split(":")
            blob += header(ino, stat.S_IFDIR | int(mode, 8), 0, path, nlink=2)
        elif kind == "file":
            path, mode, src = rest.split(":", 2)
            data = open(src, "rb").read()
            blob += header(ino, stat.S_IFREG | int(mode, 8), len(data), path)
            blob += data + b"\0" * (-len(data) % 4)
        elif kind == "nod":
            path, mode, t, maj, mnr = rest.split(":")
            ft = stat.S_IFCHR if t == "c" else stat.S_IFBLK
            blob += header(ino, ft | int(mode, 8), 0, path, int(maj), int(mnr))
        elif kind == "slink":
            path, target = rest.split(":", 1)
            t = target.encode()
            blob += header(ino, stat.S_IFLNK | 0o777, len(t), path)
            blob += t + b"\0" * (-len(t) % 4)
        else:
            sys.exit("mkcpio: unknown entry kind %r" % kind)
    blob += header(0, 0, 0, "TRAILER!!!")
    with open(out, "wb") as f:
        f.write(gzip.compress(bytes(blob), 9, mtime=0))


if __name__ == "__main__":
    main()
