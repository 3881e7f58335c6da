"""Watch responses: newline-delimited JSON events, bookmarks, timeouts and 410 Expired.

A watch from an unset or "0" resourceVersion first replays the current state as ADDED events; a
watch from a specific resourceVersion replays history after it, or fails with 410 when that history
was compacted - clients then relist, which is exactly the recovery path we want tests to exercise.
With a Table Accept header (what `kubectl get -w` sends) every event carries a one-row Table, and
only the first one carries the column definitions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from prophet_sre.sim import status as st
from prophet_sre.sim.handlers import Call, build_match, render_table, wants_table
from prophet_sre.sim.requestinfo import truthy

BOOKMARK_INTERVAL_S = 1.0
DEFAULT_TIMEOUT_S = 1800.0


def watch(call: Call) -> Response:
    q = call.query
    match = build_match(call)
    if call.info.name:  # /watch/namespaces/x/pods/name (legacy) or ?watch with a name
        name = call.info.name
        inner = match

        def match(o: dict[str, Any], _inner: Any = inner) -> bool:
            return o["metadata"].get("name") == name and (_inner is None or _inner(o))

    rv = q.get("resourceVersion")
    send_initial = truthy(q.get("sendInitialEvents"))
    if send_initial and rv not in (None, "", "0"):
        pass  # initial events from a given rv: treated like an rv-less watch below
    loop = asyncio.get_running_loop()
    watcher = call.ctx.store.watch(call.rt, namespace=call.info.namespace or None,
                                   resource_version=None if send_initial else rv, label_match=None,
                                   field_match=match, loop=loop)
    bookmarks = truthy(q.get("allowWatchBookmarks"))
    try:
        timeout_s = float(q.get("timeoutSeconds") or DEFAULT_TIMEOUT_S)
    except ValueError as e:
        watcher.close()
        raise st.bad_request("timeoutSeconds must be a number") from e
    as_table = wants_table(call)
    if as_table:
        render_table(call, [], "")  # reject bad table options before the stream starts
    initial_pending = watcher.queue.qsize() if send_initial else 0

    def encode(kind: str, obj: dict[str, Any], first: list[bool]) -> bytes:
        if kind != "BOOKMARK":
            obj = call.ctx.present(call.rt, obj)
        if as_table and kind not in ("BOOKMARK", "ERROR"):
            table = render_table(call, [obj], obj["metadata"].get("resourceVersion", ""))
            if not first[0]:
                table["columnDefinitions"] = []
            first[0] = False
            obj = table
        return orjson.dumps({"type": kind, "object": obj}) + b"\n"

    def bookmark(annotate: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(call.ctx.store.resource_version)}
        if annotate:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return orjson.dumps({"type": "BOOKMARK", "object": {"kind": call.rt.kind, "apiVersion": call.rt.api_version,
                                                            "metadata": meta}}) + b"\n"

    async def stream() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + timeout_s
        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL_S
        first = [True]
        remaining_initial = initial_pending
        try:
            if send_initial and remaining_initial == 0:
                yield bookmark(annotate=True)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout=max(wait, 0.001))
                except TimeoutError:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL_S
                        yield bookmark()
                    continue
                if item is None:
                    return
                chunk = [encode(item[0], item[1], first)]
                # batch whatever else is queued, so a burst costs one write
                while not watcher.queue.empty() and len(chunk) < 512:
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        yield b"".join(chunk)
                        return
                    chunk.append(encode(nxt[0], nxt[1], first))
                if send_initial and remaining_initial > 0:
                    remaining_initial -= len(chunk)
                    if remaining_initial <= 0:
                        chunk.append(bookmark(annotate=True))
                yield b"".join(chunk)
        finally:
            watcher.close()

    return StreamingResponse(stream(), media_type="application/json")
