#!/usr/bin/env python3
"""shears_model.py - read a shears compressed model (.shm) into numpy arrays.

    import shears_model
    m = shears_model.load("model.shm")
    m.arch, m.input, m.classes, m.mean, m.std
    m.tensors["fc1.weight"]   # numpy float32, pruned weights are 0
    m.masks["fc1.weight"]     # numpy bool, True where a weight is alive
    m.buffers                 # batchnorm running statistics (float32)

Needs numpy; everything else is the standard library (a small msgpack
reader is included). The format is specified in docs/FORMAT.md. The
payload SHA-256 is checked. Moving into PyTorch:

    state = {k: torch.from_numpy(v) for k, v in m.tensors.items()}
    net.load_state_dict(state, strict=False)   # same names and shapes

Command line:  shears_model.py MODEL.shm [--npz OUT.npz]
"""
import hashlib
import struct
import sys
import zlib

import numpy as np


class FormatError(Exception):
    pass


# ---- msgpack (the subset shears writes) -------------------------------------

def _unpack(buf, pos=0, depth=0):
    if depth > 32:
        raise FormatError("nesting too deep")
    if pos >= len(buf):
        raise FormatError("truncated")
    b = buf[pos]
    pos += 1

    def take(n):
        nonlocal pos
        if pos + n > len(buf):
            raise FormatError("truncated")
        out = buf[pos:pos + n]
        pos += n
        return out

    if b <= 0x7f:
        return b, pos
    if b >= 0xe0:
        return b - 0x100, pos
    if 0x80 <= b <= 0x8f or b in (0xde, 0xdf):
        n = b & 0x0f if b <= 0x8f else struct.unpack(">H" if b == 0xde else ">I",
                                                      take(2 if b == 0xde else 4))[0]
        out = {}
        for _ in range(n):
            k, pos = _unpack(buf, pos, depth + 1)
            v, pos = _unpack(buf, pos, depth + 1)
            out[k] = v
        return out, pos
    if 0x90 <= b <= 0x9f or b in (0xdc, 0xdd):
        n = b & 0x0f if b <= 0x9f else struct.unpack(">H" if b == 0xdc else ">I",
                                                      take(2 if b == 0xdc else 4))[0]
        out = []
        for _ in range(n):
            v, pos = _unpack(buf, pos, depth + 1)
            out.append(v)
        return out, pos
    if 0xa0 <= b <= 0xbf:
        return take(b & 0x1f).decode("utf-8"), pos
    if b in (0xd9, 0xda, 0xdb):
        n = struct.unpack({0xd9: ">B", 0xda: ">H", 0xdb: ">I"}[b], take({0xd9: 1, 0xda: 2, 0xdb: 4}[b]))[0]
        return take(n).decode("utf-8"), pos
    if b in (0xc4, 0xc5, 0xc6):
        n = struct.unpack({0xc4: ">B", 0xc5: ">H", 0xc6: ">I"}[b], take({0xc4: 1, 0xc5: 2, 0xc6: 4}[b]))[0]
        return bytes(take(n)), pos
    if b == 0xc0:
        return None, pos
    if b in (0xc2, 0xc3):
        return b == 0xc3, pos
    if b == 0xca:
        return struct.unpack(">f", take(4))[0], pos
    if b == 0xcb:
        return struct.unpack(">d", take(8))[0], pos
    fmt = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if b in fmt:
        return struct.unpack(fmt[b], take(struct.calcsize(fmt[b])))[0], pos
    raise FormatError(f"unsupported msgpack byte 0x{b:02x}")


# ---- the model ------------------------------------------------------------------

_DTYPES = {"fp32": np.dtype("<f4"), "fp16": np.dtype("<f2"), "int8": np.dtype("i1")}


class Model:
    def __init__(self):
        self.arch = self.job = ""
        self.input = (0, 0, 0)
        self.classes = 0
        self.mean = self.std = None
        self.test_accuracy = None
        self.tensors, self.masks, self.formats = {}, {}, {}
        self.buffers = None


def _values(raw, kind, n):
    dt = _DTYPES[kind]
    if len(raw) != n * dt.itemsize:
        raise FormatError("value data has the wrong size")
    return np.frombuffer(raw, dtype=dt, count=n).astype(np.float32)


def _deltas(t, index, nnz):
    bits = t.get("index_bits")
    if t["format"] == "csr":
        if bits == 4:
            b = np.frombuffer(index, dtype=np.uint8)
            d = np.empty(b.size * 2, dtype=np.int64)
            d[0::2], d[1::2] = b & 15, b >> 4
            return d[:nnz]
        if bits == 8:
            return np.frombuffer(index, dtype=np.uint8, count=nnz).astype(np.int64)
        if bits == 16:
            return np.frombuffer(index, dtype="<u2", count=nnz).astype(np.int64)
        raise FormatError("bad index_bits")
    k = t["rice_k"]
    bitstream = np.unpackbits(np.frombuffer(index, dtype=np.uint8), bitorder="little")
    out, pos = np.empty(nnz, dtype=np.int64), 0
    for e in range(nnz):
        q = 0
        while True:
            if pos >= bitstream.size:
                raise FormatError("rice index ends early")
            bit = bitstream[pos]
            pos += 1
            if not bit:
                break
            q += 1
        if pos + k > bitstream.size:
            raise FormatError("rice index ends early")
        r = int(np.dot(bitstream[pos:pos + k].astype(np.int64), 1 << np.arange(k))) if k else 0
        pos += k
        out[e] = (q << k) + r
    return out


def _tensor(t, h):
    shape = tuple(t["shape"])
    numel = int(np.prod(shape))
    blobs = {}
    for key in ("index", "mask", "data", "scales"):
        if key in t:
            h.update(t[key])
            raw = t[key]
            blobs[key] = zlib.decompress(raw) if t["deflate"] and key != "scales" else raw
    nnz, kind = t["nnz"], t["values"]
    vals = _values(blobs["data"], kind, nnz)
    rows = shape[0]
    scales = None
    if kind == "int8":
        scales = np.frombuffer(blobs["scales"], dtype="<f2", count=rows).astype(np.float32)
    flat = np.zeros(numel, dtype=np.float32)
    if t["format"] == "dense":
        if nnz != numel:
            raise FormatError("dense tensor has the wrong size")
        pos = np.arange(numel)
    elif t["format"] == "bitmask":
        bits = np.unpackbits(np.frombuffer(blobs["mask"], dtype=np.uint8), bitorder="little")[:numel]
        pos = np.flatnonzero(bits)
        if pos.size != nnz:
            raise FormatError("bitmask and values disagree")
    else:
        pos = np.cumsum(_deltas(t, blobs["index"], nnz) + 1) - 1
        if nnz and pos[-1] >= numel:
            raise FormatError("position outside the tensor")
    if scales is not None:
        vals = vals * scales[pos // (numel // rows)]
    flat[pos] = vals
    return flat.reshape(shape), (flat != 0).reshape(shape), t["format"]


def load(path):
    with open(path, "rb") as f:
        buf = f.read()
    doc, end = _unpack(buf)
    if end != len(buf) or not isinstance(doc, dict):
        raise FormatError("not a single msgpack map")
    if doc.get("magic") != "shears-model":
        raise FormatError("not a shears model")
    if doc.get("version") != 1:
        raise FormatError(f"unsupported version {doc.get('version')}")
    m = Model()
    m.arch, m.input, m.classes = doc["arch"], tuple(doc["input"]), doc["classes"]
    m.mean = np.array(doc["norm"]["mean"], dtype=np.float32)
    m.std = np.array(doc["norm"]["std"], dtype=np.float32)
    m.job, m.test_accuracy = doc.get("job", ""), doc.get("test_accuracy")
    h = hashlib.sha256()
    for t in doc["tensors"]:
        m.tensors[t["name"]], m.masks[t["name"]], m.formats[t["name"]] = _tensor(t, h)
    h.update(doc["buffers"])
    m.buffers = np.frombuffer(doc["buffers"], dtype="<f4").copy()
    if h.hexdigest() != doc["payload_sha256"]:
        raise FormatError("payload checksum mismatch")
    return m


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    m = load(argv[1])
    print(f"{argv[1]}: {m.arch}, input {m.input}, {m.classes} classes")
    for name, w in m.tensors.items():
        density = m.masks[name].mean()
        print(f"  {name:24s} {str(w.shape):18s} {100 * density:6.2f}%  {m.formats[name]}")
    if len(argv) == 4 and argv[2] == "--npz":
        np.savez(argv[3], **m.tensors)
        print(f"arrays written to {argv[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
