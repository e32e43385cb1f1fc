"""Keep freed memory in the process instead of handing it back to the kernel after every item.

glibc's ``malloc`` serves blocks of 128 KiB and more (a 5 s clip at 16 kHz is 320 KiB in float32;
PESQ's and STOI's work arrays are larger) with ``mmap`` and unmaps them on ``free``; smaller heap
space is trimmed once enough sits free at its top. The next item then faults every page in again,
zeroed by the kernel. On 116 PESQ + STOI pairs that was 475k page faults and 1.0 s of system CPU
(of 13 s); with the thresholds below in the metric workers, 144k faults and 0.45 s, the same values.

``retain_freed_memory`` raises the mmap threshold to glibc's ceiling for ``mallopt`` (32 MiB on 64-bit;
larger blocks, e.g. a long utterance's, are still mapped and returned) and the trim threshold to
``TRIM_BYTES``, so a worker keeps at most that much free heap above its working set. It is called
in the signal-metric workers only: they score one item after another, of similar shapes. The run's
own process keeps glibc's defaults: it loads codec and model weights of every size, and there the
same settings raised its peak RSS under ours-fsq + the default metrics from 679 to 717 MB (10-s
utterance) and from 1086 to 1185 MB (80 s; ``bench/memory_long.py``: blocks that glibc would have
mapped and returned stay in the heap, fragmented), for 0.1 s less wall on 116 pairs. Elsewhere (no glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_BYTES = 32 * 1024 * 1024  # HEAP_MAX_SIZE / 2: the largest value glibc's mallopt accepts on 64-bit
TRIM_BYTES = 256 * 1024 * 1024  # free heap kept above the working set at most


@functools.lru_cache(maxsize=1)
def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); False where that is not glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
    except (OSError, ValueError, AttributeError):  # no such confstr name, or no mallopt
        return False
