"""Micro-batching: face crops from concurrent requests share one model call.

Each request puts its crops on a queue and awaits a future; one worker task takes the first
waiting item, gathers whatever else arrives within `window_ms` (up to `max_faces`), runs the model
once in a thread, and hands each request its rows back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np


class MicroBatcher:
    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        *,
        window_ms: float = 4.0,
        max_faces: int = 128,
        enabled: bool = True,
    ) -> None:
        self.run = run
        self.window = window_ms / 1000
        self.max_faces = max_faces
        self.enabled = enabled
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.calls = 0  # model calls made (for tests and the benchmark)

    async def start(self) -> None:
        if self.enabled and self.task is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.create_task(self._worker())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def __call__(self, faces: np.ndarray) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros((0, 7), np.float32)
        if not self.enabled or self.queue is None:
            self.calls += 1
            return await asyncio.to_thread(self.run, faces)
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((faces, fut))
        return await fut

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            n = len(items[0][0])
            deadline = loop.time() + self.window
            while n < self.max_faces:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                items.append(item)
                n += len(item[0])
            live = [(f, fut) for f, fut in items if not fut.cancelled()]
            if not live:
                continue
            try:
                self.calls += 1
                probs = await asyncio.to_thread(self.run, np.concatenate([f for f, _ in live]))
            except Exception as e:  # hand the failure to every waiting request
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            i = 0
            for f, fut in live:
                if not fut.done():
                    fut.set_result(probs[i : i + len(f)])
                i += len(f)
