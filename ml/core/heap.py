"""glibc's allocator rule for the steps: freed tensors reused from the heap, the heap bounded.

Why: by default glibc serves large blocks with mmap and raises that threshold, and the trim
threshold with it, after the first large free, without bound. Both hurt a step that allocates the
same large tensors over and over: a fresh mapping per tensor means a page fault per 4 KiB of it
(zero-filled by the kernel, unmapped again at free), and unbounded thresholds let the heap keep
the freed holes of every batch shape. The rule here fixes both: blocks up to `mmap_threshold`
(all blocks, where mmap is off) come from the heap and are reused, at most `trim_threshold` stays
free at the heap's top, and `trim_freed_memory` gives every free page back at points the caller
chooses (between chunks). Where the C library is not glibc nothing is tuned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit
TRIM_THRESHOLD = 64 << 20


def _glibc() -> ctypes.CDLL | None:
    """glibc's malloc controls, or None where the C library is not glibc (e.g. musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def reuse_freed_memory(mmap: bool = True, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's thresholds for this process (see the module doc); False where nothing was tuned.

    `mmap=False` serves every block from the heap, for steps whose largest tensors exceed the
    largest mmap threshold glibc allows (a training step's dense embedding gradient).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)  # fixed: also stops glibc's dynamic raise
    libc.mallopt(M_MMAP_MAX, 0 if not mmap else 1 << 16)  # glibc's default count is 65,536
    libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)
    return True


def trim_freed_memory() -> None:
    """Give the heap's free pages back to the OS."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
