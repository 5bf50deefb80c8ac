"""linear-100 and fanout-98 in ia-modules 0.2.0, run the way its own `ia-modules run` command
runs a JSON pipeline (a `GraphPipelineRunner` on an empty `ServiceRegistry`,
`run_pipeline_from_json`); prints the pipeline's final `value`.

  python run_ia.py PIPELINE               one run: what compare.sh times as a whole process
  python run_ia.py PIPELINE --repeat N    one warm-up run, then N runs in the same process;
                                          prints the median milliseconds of those N as well
  python run_ia.py --imports-only         import what a run imports, run nothing: the start-up
                                          share of a whole process
  python run_ia.py PIPELINE --dump        print the pipeline in ia-modules' JSON format (for
                                          `ia-modules run FILE --working-dir bench/ia-modules`)
  --parallel-step                         fanout-98 only: the 98 branches as children of one
                                          ParallelStep (asyncio.gather) instead of 98 paths of
                                          the JSON graph, which ia-modules runs one at a time

PIPELINE is linear-100 or fanout-98, the same pipelines as linear-100.yaml and fanout-98.yaml.
(They are built here rather than committed as .json files, which `weir validate` would read as
weir pipelines.)
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the module `ia_steps` the steps name

from ia_modules.pipeline.core import ExecutionContext  # noqa: E402
from ia_modules.pipeline.graph_pipeline_runner import GraphPipelineRunner  # noqa: E402
from ia_modules.pipeline.parallel_step import ParallelStep  # noqa: E402
from ia_modules.pipeline.services import ServiceRegistry  # noqa: E402

import ia_steps  # noqa: E402

LINEAR = [f"s{i:03}" for i in range(1, 101)]
BRANCHES = [f"b{i:02}" for i in range(1, 99)]


def step(step_id: str, step_class: str, config: dict | None = None) -> dict:
    return {"id": step_id, "name": step_id, "step_class": step_class, "module": "ia_steps", "config": config or {}}


def linear_100() -> dict:
    # No path out of the last step: ia-modules ends a run at a step without transitions. A path
    # to `end_with_success` would count as a 101st step and trip its limit of 100 per run.
    return {
        "name": "linear-100",
        "steps": [step(s, "Increment") for s in LINEAR],
        "flow": {"start_at": LINEAR[0], "paths": [{"from": a, "to": b} for a, b in zip(LINEAR, LINEAR[1:])]},
    }


def fanout_98() -> dict:
    steps = [step("start", "Start"), *(step(b, "Sleep", {"ms": 10}) for b in BRANCHES), step("join", "Join")]
    paths = [{"from": "start", "to": b} for b in BRANCHES] + [{"from": b, "to": "join"} for b in BRANCHES]
    return {"name": "fanout-98", "steps": steps, "flow": {"start_at": "start", "paths": paths}}


async def run_json(config: dict) -> int:
    runner = GraphPipelineRunner(services=ServiceRegistry())
    context = ExecutionContext(execution_id="bench", pipeline_id=config["name"])
    result = await runner.run_pipeline_from_json(config, {}, execution_context=context)
    return result["output"]["value"]


async def run_parallel_step(config: dict) -> int:
    """fanout-98 as start -> one ParallelStep of the 98 sleeps -> join."""
    steps = [
        ia_steps.Start("start", {}),
        ParallelStep("fan", {"steps": [ia_steps.Sleep(b, {"ms": 10}) for b in BRANCHES]}),
        ia_steps.Join("join", {}),
    ]
    flow = {"start_at": "start", "paths": [{"from": "start", "to": "fan"}, {"from": "fan", "to": "join"}]}
    runner = GraphPipelineRunner(services=ServiceRegistry())
    result = await runner.run_pipeline(config["name"], steps, flow, {})
    return result["output"]["value"]


async def main(args: argparse.Namespace) -> None:
    if args.imports_only:
        return
    config = {"linear-100": linear_100, "fanout-98": fanout_98}[args.pipeline]()
    if args.dump:
        print(json.dumps(config, indent=2))
        return
    if args.parallel_step and args.pipeline != "fanout-98":
        sys.exit("--parallel-step is for fanout-98")
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
    parser.add_argument("pipeline", nargs="?", choices=["linear-100", "fanout-98"])
    parser.add_argument("--imports-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--parallel-step", action="store_true")
    parser.add_argument("--dump", action="store_true")
    args = parser.parse_args()
    if not args.pipeline and not args.imports_only:
        parser.error("name a pipeline, or --imports-only")
    asyncio.run(main(args))
