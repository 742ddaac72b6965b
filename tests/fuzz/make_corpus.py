#!/usr/bin/env python3
"""make_corpus.py -- writes the seed corpus of the libFuzzer harness.

Each seed is a hand-made sequence of operations in the input format that
tests/fuzz/fuzz_api.c documents (opcode byte, slot byte, arguments).  The
files are committed under tests/fuzz/corpus/; run this script again after a
change of the format:

    python3 tests/fuzz/make_corpus.py [OUTDIR=tests/fuzz/corpus]
"""
import os
import struct
import sys

# Opcodes, in the order of fuzz_api.c's enum.
(MALLOC, CALLOC, REALLOC, FREE, ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN, VALLOC,
 PVALLOC, REALLOCARRAY, USABLE, TRIM, IMPOSSIBLE, OPTION, CHECK) = range(15)

EDGES = [0, 1, 7, 8, 9, 15, 16, 17, 24, 63, 64, 127, 128, 129, 255, 256, 511, 512, 513,
         640, 641, 1024, 2047, 4095, 4096, 4097, 8191, 8192, 12288, 16383, 16384, 16385,
         16386, 20480, 65535, 65536, 65537, 262144, 1 << 20]
LARGE_CAP = 1 << 20


def size(n):
    """The bytes that make take_size() return n."""
    if n in EDGES:
        return bytes([5, EDGES.index(n)])
    if n < 32:
        return bytes([3 | (n << 3)])
    if n <= 512:
        return bytes([0]) + struct.pack("<H", n)
    if n <= 16384:
        return bytes([4]) + struct.pack("<H", n - 513)
    if n <= LARGE_CAP:
        return bytes([6]) + struct.pack("<I", n - 16385)[:3]
    raise ValueError(n)


def page_size(k, delta):
    """(k pages) + delta, delta in -1, 0, 1; 1 <= k <= 32."""
    return bytes([7 | ((k - 1) << 3), delta + 1])


def align_pow2(e):
    return bytes([e])


def align_bad(j):
    """bad_aligns[j] of fuzz_api.c: 0, 3, 5, 6, 12, 24, 48, 96, 100, 4097,
    65535, 65537, SIZE_MAX, 1 << 41, 1 << 63, 12288."""
    return bytes([0xd0 + j])


def impossible(h, which):
    """IMPOSSIBLE's arguments: huge size h (0..6), entry point which (0..8);
    case 1 (calloc overflow) reads one more byte, the multiplier."""
    return bytes([h, which]) + (bytes([5]) if which == 1 else b"")


def op(code, slot, *args):
    return bytes([code, slot]) + b"".join(args)


def small_churn():
    out = b""
    for i in range(64):
        out += op(MALLOC, i, size(1 + (i * 37) % 512))
    for i in range(0, 64, 3):
        out += op(FREE, i)
    for i in range(0, 64, 3):
        out += op(CALLOC, i, size(8 + i), bytes([1 + i % 4]))
    for i in range(1, 64, 5):
        out += op(REALLOC, i, size(1 + (i * 37) % 512 + 3))   # often the same class
    out += op(CHECK, 0)
    return out


def medium_spans():
    out = b""
    for i in range(40):
        out += op(MALLOC, i, size(513 + i * 397))
    for i in range(0, 40, 2):
        out += op(REALLOC, i, size(600 + i * 300))
    for i in range(1, 40, 2):
        out += op(FREE, i)
    out += op(CHECK, 0) + op(TRIM, 0, bytes([0]))
    for i in range(1, 40, 2):
        out += op(CALLOC, i, size(4096), bytes([2]))
    return out


def large_cache():
    out = b""
    for r in range(4):
        for i in range(8):
            out += op(MALLOC, i, size(16385 + i * 50000 + r * 4096))
        for i in range(8):
            out += op(FREE, i)
    out += op(OPTION, 0, bytes([0]))        # large cache 0
    out += op(MALLOC, 1, size(300000)) + op(FREE, 1)
    out += op(OPTION, 0, bytes([1]))        # decay 0
    out += op(OPTION, 0, bytes([9]))        # large cache 8 MiB
    for i in range(6):
        out += op(CALLOC, i, size(100000 + i * 4096), bytes([3]))
    out += op(TRIM, 0, bytes([0])) + op(CHECK, 0)
    return out


def realloc_chain():
    out = op(MALLOC, 7, size(40))
    for n in [100, 1000, 10000, 100000, LARGE_CAP, 200000, 50, 0]:
        out += op(REALLOC, 7, size(n))
    out += op(REALLOC, 8, size(24))            # from NULL
    for n in [600, 20000, 900000, 17000]:
        out += op(REALLOCARRAY, 8, size(n), bytes([1]))
    out += op(REALLOCARRAY, 8, size(512), bytes([0]))   # to 0
    out += op(ALIGNED_ALLOC, 9, align_pow2(16), size(20000))
    out += op(REALLOC, 9, size(300000)) + op(REALLOC, 9, size(16385))
    return out


def aligned():
    out = b""
    slot = 0
    for e in range(17):
        for n in [1, 100, 600, 5000, 20000]:
            out += op([ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN][slot % 3], slot % 64,
                      align_pow2(e), size(n))
            slot += 1
    out += op(VALLOC, 1, size(100)) + op(VALLOC, 2, size(30000))
    out += op(PVALLOC, 3, size(0)) + op(PVALLOC, 4, page_size(3, 1))
    out += op(CHECK, 0)
    return out


def invalid():
    out = b""
    for j in range(16):
        for code in (ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN):
            out += op(code, j, align_bad(j), size(64))
    for e in (0, 1, 2):                    # posix_memalign: below sizeof(void *)
        out += op(POSIX_MEMALIGN, 20 + e, align_pow2(e), size(8))
    out += op(MALLOC, 30, size(5000))
    for h in range(7):
        for which in range(9):
            out += op(IMPOSSIBLE, 30, impossible(h, which))
    return out


def usable_slack():
    out = b""
    for i, n in enumerate([1, 13, 500, 513, 700, 4097, 16385, 70000]):
        out += op(MALLOC, i, size(n)) + op(USABLE, i)
        out += op(REALLOC, i, size(n + 5)) + op(USABLE, i)
    out += op(USABLE, 40) + op(CHECK, 0)
    return out


def edges():
    out = b""
    for k, n in enumerate(EDGES):
        out += op(MALLOC, k % 64, size(n))
        out += op(CALLOC, (k + 20) % 64, size(n), bytes([1]))
        out += op(REALLOC, k % 64, size(EDGES[(k + 7) % len(EDGES)]))
    for k in range(1, 33, 5):
        for d in (-1, 0, 1):
            out += op(MALLOC, k, page_size(k, d))
    return out


def mixed():
    out = b""
    x = 12345
    for _ in range(400):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        code = (x >> 33) % 15
        slot = (x >> 20) % 64
        pick = (x >> 40) % 100
        n = (1 + (x >> 8) % 512 if pick < 80 else
             513 + (x >> 8) % 15000 if pick < 95 else 16385 + (x >> 8) % 200000)
        if code in (ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN):
            out += op(code, slot, align_pow2((x >> 50) % 17), size(n))
        elif code in (CALLOC, REALLOCARRAY):
            out += op(code, slot, size(n), bytes([(x >> 56) % 5]))
        elif code in (MALLOC, REALLOC, VALLOC, PVALLOC):
            out += op(code, slot, size(n))
        elif code in (TRIM, OPTION):
            out += op(code, slot, bytes([(x >> 56) % 256]))
        elif code == IMPOSSIBLE:
            out += op(code, slot, impossible((x >> 48) % 7, (x >> 56) % 9))
        else:
            out += op(code, slot)
    return out


SEEDS = [small_churn, medium_spans, large_cache, realloc_chain, aligned, invalid,
         usable_slack, edges, mixed]


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(outdir, exist_ok=True)
    for fn in SEEDS:
        data = fn()
        with open(os.path.join(outdir, fn.__name__), "wb") as f:
            f.write(data)
        print(f"{fn.__name__}: {len(data)} bytes")


if __name__ == "__main__":
    main()
