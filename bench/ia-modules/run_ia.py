"""Runs a pipeline of bench/ia-modules in ia-modules 0.2.0, the way its own `ia-modules run`
command does (a `GraphPipelineRunner` on an empty `ServiceRegistry`, `run_pipeline_from_json`),
and prints the pipeline's final `value`.

  python run_ia.py PIPELINE.json             one run: what compare.sh times as a whole process
  python run_ia.py PIPELINE.json --repeat N  one warm-up run, then N runs in the same process;
                                             prints the median milliseconds of those N as well
  --parallel-step                            fanout-98 only: the 98 branches as children of one
                                             ParallelStep (asyncio.gather) instead of 98 paths
                                             of the JSON graph, which ia-modules runs one by one
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # for the module `ia_steps` the JSON files name

from ia_modules.pipeline.core import ExecutionContext  # noqa: E402
from ia_modules.pipeline.graph_pipeline_runner import GraphPipelineRunner  # noqa: E402
from ia_modules.pipeline.parallel_step import ParallelStep  # noqa: E402
from ia_modules.pipeline.services import ServiceRegistry  # noqa: E402

import ia_steps  # noqa: E402


async def run_json(config: dict) -> int:
    runner = GraphPipelineRunner(services=ServiceRegistry())
    context = ExecutionContext(execution_id="bench", pipeline_id=config["name"])
    result = await runner.run_pipeline_from_json(config, {}, execution_context=context)
    return result["output"]["value"]


async def run_parallel_step(config: dict) -> int:
    """fanout-98 as start -> one ParallelStep of the 98 sleeps -> join."""
    by_class = {s["id"]: s for s in config["steps"]}
    branches = [s for s in config["steps"] if s["step_class"] == "Sleep"]
    steps = [
        ia_steps.Start("start", {}),
        ParallelStep("fan", {"steps": [ia_steps.Sleep(b["id"], b["config"]) for b in branches]}),
        ia_steps.Join("join", by_class["join"].get("config", {})),
    ]
    flow = {"start_at": "start", "paths": [{"from": "start", "to": "fan"}, {"from": "fan", "to": "join"}]}
    runner = GraphPipelineRunner(services=ServiceRegistry())
    result = await runner.run_pipeline(config["name"], steps, flow, {})
    return result["output"]["value"]


async def main(args: argparse.Namespace) -> None:
    config = json.loads(Path(args.pipeline).read_text())
    run = run_parallel_step if args.parallel_step else run_json
    value = await run(config)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        assert await run(config) == value
        times.append((time.perf_counter() - start) * 1000)
    print(f"value {value}")
    if times:
        print(f"warm median {statistics.median(times):.3f} ms over {len(times)} runs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--parallel-step", action="store_true")
    asyncio.run(main(parser.parse_args()))
