#!/usr/bin/python3
"""png_check.py FILE [WIDTH HEIGHT] - exits 0 if FILE is a PNG (of that
size, when given) that is not blank: its decoded image data must hold more
than 20 distinct byte values in a sample. A page that failed to render is
one colour."""
import struct
import sys
import zlib


def main(path, size=None):
    png = open(path, "rb").read()
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    w, h = struct.unpack(">II", png[16:24])
    if size and (w, h) != size:
        sys.exit(f"{path}: {w}x{h}, expected {size[0]}x{size[1]}")
    pos, idat = 8, b""
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    if len(set(zlib.decompress(idat)[::97])) <= 20:
        sys.exit(f"{path}: looks blank")


if __name__ == "__main__":
    main(sys.argv[1], (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else None)
