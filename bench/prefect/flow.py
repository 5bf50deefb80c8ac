"""40 sequential tasks of ~10 ms in Prefect 3, the workload of bench/prefect/compare.sh.

`python flow.py N` runs the flow once to warm up (Prefect starts its API server and creates its
SQLite database), then N more times, and prints the median wall time of those N in seconds.
"""

import statistics
import sys
import time

from prefect import flow, task


@task
def step(x: int) -> int:
    time.sleep(0.01)
    return x + 1


@flow
def chain() -> int:
    x = 0
    for _ in range(40):
        x = step(x)
    return x


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    assert chain() == 40
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        assert chain() == 40
        times.append(time.perf_counter() - start)
    if times:
        print(f"{statistics.median(times):.4f}")
