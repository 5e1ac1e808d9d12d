"""The training loop's malloc setting: freed blocks are reused, a user's own settings win."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import pytest
import torch

from saliency_kd import allocator
from saliency_kd.allocator import keep_freed_memory, user_malloc_settings

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (2.33+): what its malloc holds, in bytes and blocks."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def mallinfo() -> MallInfo2:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc older than 2.33 has no mallinfo2")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


@glibc
def test_a_large_block_comes_from_the_heap_and_stays_there_when_freed(monkeypatch):
    for name in user_malloc_settings():
        monkeypatch.delenv(name)
    assert keep_freed_memory() and keep_freed_memory()  # the second call: already so
    size = 64 * 2**20  # above glibc's largest mmap threshold: by default mapped on its own
    before = mallinfo()
    x = torch.empty(size // 4)
    x.fill_(1.0)
    during = mallinfo()
    assert during.hblkhd - before.hblkhd < size, "the block was mapped apart from the heap"
    # In the heap: from room freed there earlier (as after a training step) or by growing it.
    assert during.uordblks - before.uordblks > 0.9 * size, "the block is not in the heap"
    del x
    after = mallinfo()
    assert after.arena >= during.arena, "the heap was trimmed: the freed block went back"


def test_a_user_tuning_malloc_through_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setattr(allocator, "_kept", False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert user_malloc_settings() == ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX"]
    assert keep_freed_memory() is False


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator, "_kept", False)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert keep_freed_memory() is False
