#!/usr/bin/env python3
"""tests/host/timeline_png.py: read a PNG (as chromium writes it: 8-bit RGB or
RGBA, not interlaced) with zlib alone, and answer what tests/host/timeline.sh
asks of a timeline picture. Usage: timeline_png.py PNG QUERY ARGS...

Queries (print the answer as one line of JSON):
  bands COLOURS...      rows holding a pixel of any of COLOURS (#rrggbb), as
                        [[y0, y1], ...] bands of consecutive rows
  span Y0 Y1 COLOURS... within rows Y0..Y1: [x_min, x_max] of COLOURS pixels
  count Y0 Y1 COLOURS...  pixels of each colour within rows Y0..Y1
  at Y X...             the colour at (X, Y) for each X
  nonwhite              pixels that are not white
"""
import json, struct, sys, zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append([(line[x * bpp], line[x * bpp + 1], line[x * bpp + 2]) for x in range(w)])
        prev = line
    return w, h, rows


def rgb(s):
    return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))


def main():
    w, h, rows = read_png(sys.argv[1])
    q, args = sys.argv[2], sys.argv[3:]
    if q == "bands":
        want = {rgb(c) for c in args}
        bands = []
        for y in range(h):
            if any(p in want for p in rows[y]):
                if bands and bands[-1][1] == y - 1:
                    bands[-1][1] = y
                else:
                    bands.append([y, y])
        print(json.dumps(bands))
    elif q == "span":
        y0, y1, want = int(args[0]), int(args[1]), {rgb(c) for c in args[2:]}
        xs = [x for y in range(y0, y1 + 1) for x in range(w) if rows[y][x] in want]
        print(json.dumps([min(xs), max(xs)] if xs else None))
    elif q == "count":
        y0, y1 = int(args[0]), int(args[1])
        out = {}
        for c in args[2:]:
            t = rgb(c)
            out[c] = sum(1 for y in range(y0, y1 + 1) for p in rows[y] if p == t)
        print(json.dumps(out))
    elif q == "at":
        y = int(args[0])
        print(json.dumps(["#%02x%02x%02x" % rows[y][int(x)] for x in args[1:]]))
    elif q == "nonwhite":
        print(sum(1 for r in rows for p in r if p != (255, 255, 255)))


if __name__ == "__main__":
    main()
