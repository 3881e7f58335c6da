"""Running a suite: every run of every scenario on its own simulator, in parallel worker processes.

Why processes: a simulated cluster is several threads (API server, controllers, kubelets, traffic) plus a
Prometheus; GIL-bound threads of many worlds in one process would slow each other's clocks down. Each
worker process runs one episode at a time, so each scenario gets its own simulator and the suite uses
every core (`jobs`). Workers are started with `spawn` (the parent may hold threads: the progress view).

Nothing is ever lost: `run_episode` turns a crash inside an episode into a result with its traceback; a
worker process that dies (a segfault, an OOM kill) breaks the pool, and the runs in flight are retried
once in a fresh pool before they are reported as crashed with what killed them.

Progress: workers send `{"run", "kind": start|step|done, ...}` dicts over a queue; `on_progress` in the
parent receives them (the Rich view of `prophet eval`).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue as queue_mod
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from prophet_sre.errors import InvalidInput
from prophet_sre.evals.episode import EpisodeResult
from prophet_sre.evals.score import score
from prophet_sre.evals.suite import Run, SuiteResult, discover, load, summarize

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]
LLM_PROVIDERS = ("none", "ollama", "openai", "anthropic")
_queue: Any = None


class Task(BaseModel):
    """One run to do; what a worker process receives."""

    path: str
    scenario: str
    repeat: int = 0
    speed: float = 50.0
    mode: str | None = None
    llm: str | None = None
    """`PROVIDER:MODEL` (or `none`); None: the settings' own."""
    prometheus: bool = True

    @property
    def key(self) -> str:
        return f"{self.scenario}#{self.repeat}"


def parse_llm(text: str | None) -> dict[str, str] | None:
    """`ollama:llama3.2` -> {"provider": "ollama", "model": "llama3.2"}; `none` -> provider none."""
    if text is None:
        return None
    provider, _, model = text.partition(":")
    provider = provider.strip().lower()
    if provider not in LLM_PROVIDERS:
        raise InvalidInput(f"--llm {text!r}: provider must be one of {', '.join(LLM_PROVIDERS)} "
                           "(e.g. ollama:llama3.2, openai:gpt-4o-mini, none)")
    if provider != "none" and not model.strip():
        raise InvalidInput(f"--llm {text!r}: name the model after the provider, e.g. {provider}:MODEL")
    return {"provider": provider, "model": model.strip()}


def _init_worker(q: Any) -> None:
    global _queue
    _queue = q
    logging.basicConfig(level=logging.ERROR, force=True)  # the parent's progress view owns the terminal


def _send(msg: dict[str, Any]) -> None:
    if _queue is None:
        return
    try:
        _queue.put_nowait(msg)
    except Exception:  # noqa: BLE001 - progress is best effort; the run's result is what counts
        log.debug("progress queue full or closed")


def run_task(task: Task) -> dict[str, Any]:
    """Run one episode (in a worker process); the EpisodeResult as JSON-ready data."""
    from prophet_sre.config import load_settings
    from prophet_sre.evals.episode import run_episode

    _send({"run": task.key, "kind": "start"})
    try:
        llm = parse_llm(task.llm)
        settings = load_settings(**({"llm": llm} if llm else {}))

        def on_event(event: dict[str, Any]) -> None:
            _send({"run": task.key, "kind": "step", "node": event.get("node", ""),
                   "summary": str(event.get("summary", ""))[:200]})

        result = run_episode(task.path, speed=task.speed, mode=task.mode, settings=settings, on_event=on_event,
                             prometheus=task.prometheus)
    except Exception as e:  # noqa: BLE001 - a crash before the episode starts is a failed run too
        result = EpisodeResult(scenario=task.scenario, path=task.path,
                               error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=20)}")
    _send({"run": task.key, "kind": "done", "ok": not result.error})
    return result.model_dump(mode="json")


def _crashed(task: Task, why: str) -> dict[str, Any]:
    return EpisodeResult(scenario=task.scenario, path=task.path, error=why).model_dump(mode="json")


def execute(tasks: list[Task], *, jobs: int, on_progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """Run every task; results by `Task.key`. `jobs` 0 runs them one by one in this process."""
    results: dict[str, dict[str, Any]] = {}
    if jobs <= 0:
        global _queue
        q: queue_mod.Queue[Any] = queue_mod.Queue()
        _queue = q
        pump = _Pump(q, on_progress).start()
        try:
            for t in tasks:
                results[t.key] = run_task(t)
        finally:
            _queue = None
            pump.stop()
        return results
    ctx = multiprocessing.get_context("spawn")
    mq = ctx.Queue()
    pump = _Pump(mq, on_progress).start()
    attempts: dict[str, int] = {}
    pending = list(tasks)
    try:
        while pending:
            batch, pending = pending, []
            with ProcessPoolExecutor(max_workers=min(jobs, len(batch)), mp_context=ctx, initializer=_init_worker,
                                     initargs=(mq,)) as pool:
                futures = {pool.submit(run_task, t): t for t in batch}
                for fut in as_completed(futures):
                    t = futures[fut]
                    try:
                        results[t.key] = fut.result()
                    except BrokenProcessPool:
                        attempts[t.key] = attempts.get(t.key, 0) + 1
                        if attempts[t.key] < 2:
                            pending.append(t)
                        else:
                            results[t.key] = _crashed(t, "the worker process died twice while running this "
                                                         "scenario (killed, out of memory or a crash in native code)")
                    except Exception as e:  # noqa: BLE001 - e.g. a result that could not be sent back
                        results[t.key] = _crashed(t, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=10)}")
            if pending:
                log.warning("a worker process died; retrying %d run(s) in a fresh pool", len(pending))
    finally:
        pump.stop()
        mq.close()
    return results


class _Pump:
    """Moves progress messages from the workers' queue to `on_progress`, on a thread of the parent."""

    def __init__(self, q: Any, on_progress: Progress | None) -> None:
        self.q = q
        self.on_progress = on_progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="eval-progress", daemon=True)

    def start(self) -> _Pump:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            try:
                msg = self.q.get(timeout=0.1)
            except (queue_mod.Empty, EOFError, OSError):
                if self._stop.is_set():
                    return
                continue
            if self.on_progress is not None:
                try:
                    self.on_progress(msg)
                except Exception:  # noqa: BLE001 - a broken view must not stop the suite
                    log.exception("progress view failed; no more progress is shown")
                    self.on_progress = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_suite(paths: list[Path | str], *, repeat: int = 1, jobs: int = 2, speed: float = 50.0,
              mode: str | None = None, llm: str | None = None, price_per_mtok: float = 0.0,
              prometheus: bool = True, on_progress: Progress | None = None,
              on_plan: Callable[[list[Task], SuiteResult], None] | None = None) -> SuiteResult:
    """Discover, validate, run (`repeat` times each, `jobs` at a time) and score a suite."""
    if repeat < 1:
        raise InvalidInput(f"--repeat must be at least 1, not {repeat}")
    if mode is not None and mode not in ("autonomous", "human-in-loop", "dry-run"):
        raise InvalidInput(f"--mode must be autonomous, human-in-loop or dry-run, not {mode!r}")
    parse_llm(llm)
    t0 = time.monotonic()
    files = discover(paths)
    if not files:
        raise InvalidInput(f"no scenario files under {', '.join(map(str, paths))}")
    valid, invalid = load(files)
    result = SuiteResult(invalid=invalid, config={
        "paths": [str(p) for p in paths], "repeat": repeat, "jobs": jobs, "speed": speed, "mode": mode,
        "llm": llm, "price_per_mtok": price_per_mtok, "prometheus": prometheus,
        "cpus": multiprocessing.cpu_count()})
    tasks = [Task(path=str(f), scenario=sc.id, repeat=i, speed=speed, mode=mode, llm=llm, prometheus=prometheus)
             for i in range(repeat) for f, sc in valid]
    if on_plan is not None:
        on_plan(tasks, result)
    raw = execute(tasks, jobs=jobs, on_progress=on_progress)
    scenarios = {sc.id: (f, sc) for f, sc in valid}
    for t in tasks:
        f, sc = scenarios[t.scenario]
        episode = EpisodeResult.model_validate(raw[t.key])
        run_mode = mode or sc.mode
        result.runs.append(Run(scenario=sc.id, file=str(f), repeat=t.repeat, category=sc.category.value,
                               tags=list(sc.tags), title=sc.title, episode=episode,
                               score=score(sc, episode, mode=run_mode, price_per_mtok=price_per_mtok)))
    result.wall_s = round(time.monotonic() - t0, 2)
    return summarize(result, k=repeat)


__all__ = ["LLM_PROVIDERS", "Task", "execute", "parse_llm", "run_suite", "run_task"]
