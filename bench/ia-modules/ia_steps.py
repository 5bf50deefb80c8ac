"""The ia-modules step classes of linear-100.json and fanout-98.json.

ia-modules hands every step the run's one shared dict and merges the dict a step returns into it
(and stores it under the step's id), so `value` flows from step to step.
"""

import asyncio

from ia_modules.pipeline.core import Step


class Increment(Step):
    """Adds 1 to `value` (0 when absent): weir's `(.input.value // 0) + 1`, `.steps.X.output + 1`."""

    async def run(self, data):
        return {"value": data.get("value", 0) + 1}


class Start(Step):
    """The fan-out's root: `value` 0, as weir's `pass` with `value: 0`."""

    async def run(self, data):
        return {"value": 0}


class Sleep(Step):
    """Waits `ms` milliseconds without blocking the event loop, as weir's `sleep`."""

    async def run(self, data):
        ms = self.config.get("ms", 10)
        await asyncio.sleep(ms / 1000)
        return {"slept_ms": ms}


class Join(Step):
    """Adds the number of branches that ran to `value`, as weir's join counts succeeded needs."""

    async def run(self, data):
        ran = sum(1 for v in data.values() if isinstance(v, dict) and "slept_ms" in v)
        return {"value": data["value"] + ran}
