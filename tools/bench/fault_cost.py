#!/usr/bin/env python3
"""How long this machine takes to page in fresh memory: maps 64 MB of anonymous memory,
writes one byte per 4 KB page (one page fault each) and prints the cost per fault, median
of five rounds. chainconv_bench's faults/run column times this gives what page faults cost
a measurement; on bare metal a fault costs well under a microsecond, on some virtual
machines ten or more.

    /usr/bin/python3 tools/bench/fault_cost.py
"""
import mmap
import statistics
import time

PAGE = mmap.PAGESIZE
SIZE = 64 << 20


def one_round() -> float:
    memory = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        start = time.perf_counter()
        for offset in range(0, SIZE, PAGE):
            memory[offset] = 1
        return (time.perf_counter() - start) / (SIZE // PAGE)
    finally:
        memory.close()


def main() -> None:
    seconds = statistics.median(one_round() for _ in range(5))
    print(f"{seconds * 1e6:.2f} us per page fault ({PAGE // 1024} KB pages, median of 5)")


if __name__ == "__main__":
    main()
