"""A workflow module with module-level state, for tests/engine/test_engine_sandbox_runner.py:
each run must see the module fresh (the sandbox re-imports it per run)."""
from temporalio import workflow

RUNS: list[str] = []


@workflow.defn
class CountsItsModuleRuns:
    @workflow.run
    async def run(self) -> int:
        RUNS.append(workflow.info().workflow_id)
        return len(RUNS)
