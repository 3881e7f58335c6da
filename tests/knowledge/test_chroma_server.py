"""The knowledge package against a real Chroma server (`chroma run`, started here on a free port).

Two `Knowledge` instances share the server, as two operator replicas would: what one indexes and
remembers, the other retrieves and renders. Skipped only when the `chroma` executable is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from knowledge_support import RUNBOOKS, diagnosis, finding

from prophet_sre.config import Settings
from prophet_sre.domain import Plan, RollbackAction
from prophet_sre.errors import ToolUnavailable
from prophet_sre.graphs.state import ExecutionRecord, IncidentState, Outcome
from prophet_sre.knowledge import Knowledge, KnowledgeSettings
from prophet_sre.tools.actions.results import ExecutionResult

CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMA).exists():
        pytest.skip("the chroma executable (from the chromadb package) is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([CHROMA, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (data / "server.log").read_text()
            assert time.monotonic() < deadline, "chroma did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_index_search_and_memory_through_a_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "unused")
    one = Knowledge(KnowledgeSettings(chroma_url=chroma_url, index_builtin=False), data_dir=settings.data_dir)
    report = one.index_path(RUNBOOKS)
    assert len(report.added) >= 30
    assert not (tmp_path / "unused" / "chroma").exists()  # nothing embedded: everything went to the server

    other = Knowledge(KnowledgeSettings(chroma_url=chroma_url, index_builtin=False), data_dir=tmp_path / "other")
    assert other.search("Back-off pulling image \"nginx:1.277\"", k=1)[0].id == "image-pull-bad-tag"
    d = diagnosis("image_pull", "web cannot pull nginx:1.277", "demo/deployment/web")
    hit = other.runbooks_for(d, [finding("demo/pod/web-1", 'Back-off pulling image "nginx:1.277"',
                                         parent="demo/deployment/web")])[0]
    assert hit.id == "image-pull-bad-tag" and hit.actions[0].type == "rollback"

    state = IncidentState(incident_id="inc-srv-1", diagnosis=d, outcome=Outcome.RESOLVED,
                          findings=[finding("demo/pod/web-1", 'Back-off pulling image "nginx:1.277"')],
                          plan=Plan(actions=[RollbackAction(target=d.root_cause)]))
    state.executions = [ExecutionRecord(index=0, action=state.plan.actions[0], result=ExecutionResult(ok=True))]
    one.remember(state)
    hints = other.memory_hints(d, state.findings)
    assert [(h.incident_id, h.action_type, h.outcome) for h in hints] == [("inc-srv-1", "rollback", "fixed")]
    # again: idempotent over the server too
    assert not one.index_path(RUNBOOKS).changed


def test_from_settings_reads_the_chroma_url(chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPHET_CHROMA_URL", chroma_url)
    kb = Knowledge.from_settings(Settings(data_dir=tmp_path))
    assert kb.settings.chroma_url == chroma_url
    assert kb.search("NXDOMAIN", k=1)[0].id == "dns-nxdomain-wrong-name"


def test_a_chroma_server_that_is_down_is_tool_unavailable(tmp_path: Path) -> None:
    kb = Knowledge(KnowledgeSettings(chroma_url=f"http://127.0.0.1:{_free_port()}"), data_dir=tmp_path)
    with pytest.raises(ToolUnavailable, match="unset PROPHET_CHROMA_URL"):
        kb.search("anything")
