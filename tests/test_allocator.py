"""The command and its metric workers keep freed memory (``codecbench.allocator``): an item's arrays
reuse the previous item's pages instead of faulting fresh zeroed pages in from the kernel."""

from __future__ import annotations

import os
import resource

import numpy as np

from codecbench.allocator import MMAP_BYTES, retain_freed_memory

GLIBC = bool(os.confstr("CS_GNU_LIBC_VERSION")) if "CS_GNU_LIBC_VERSION" in os.confstr_names else False
PAGE = os.sysconf("SC_PAGE_SIZE")


def _faults_of(repeats: int, n_bytes: int, blocks: int = 4) -> int:
    """Minor page faults of allocating and filling ``blocks`` arrays of ``n_bytes`` together, then
    freeing them, ``repeats`` times (an item's work arrays)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        arrays = [np.ones(n_bytes // 8) for _ in range(blocks)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_blocks_are_reused_without_page_faults():
    assert retain_freed_memory() is GLIBC
    assert retain_freed_memory() is GLIBC  # set once per process
    if not GLIBC:
        return
    n_bytes = 2 * 1024 * 1024  # above glibc's default 128 KiB mmap threshold, below MMAP_BYTES
    assert n_bytes < MMAP_BYTES
    pages = n_bytes // PAGE
    _faults_of(1, n_bytes)  # the heap grows once
    # glibc's defaults give 8 MiB freed at once back to the kernel (mapped blocks, or a heap top above
    # its trim threshold: 2 x the largest block freed), so each repeat faults 4 x 512 pages in again
    assert _faults_of(20, n_bytes) < 2 * pages


def test_metric_workers_keep_freed_memory(tmp_path):
    from codecbench.pipeline import workers

    pool = workers.make_pool(1, [], str(tmp_path))
    try:
        pool.submit(_faults_of, 1, 2 * 1024 * 1024).result()
        faults = pool.submit(_faults_of, 20, 2 * 1024 * 1024).result()
    finally:
        pool.shutdown()
    assert faults < 2 * (2 * 1024 * 1024 // PAGE) if GLIBC else faults >= 0
