"""The query graph: a question about the cluster → a grounded answer, read-only.

    gather_context → diagnose → retrieve_runbooks → answer

The read-only sibling of the remediation graph, used by `prophet ask` and `/mcp/query`. It shares the
first nodes (same evidence, same diagnosis, same runbooks) and never plans or writes. The answer cites
the evidence it used by number; the state (with the findings) is checkpointed under the question's
incident id, so a follow-up ("fix it") can start a remediation from the same diagnosis.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from prophet_sre.agents.answer import answer as compose
from prophet_sre.graphs.context import Deps, deps_of
from prophet_sre.graphs.nodes import NodeRun
from prophet_sre.graphs.remediation import (
    diagnose,
    gather_context,
    look_again,
    retrieve_runbooks,
    route_after_diagnose,
)
from prophet_sre.graphs.state import IncidentState, Outcome


def answer(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    with NodeRun(deps, state, "answer") as run:
        assert state.diagnosis is not None
        text = compose(state.trigger.question, state.diagnosis, notes=state.notes)
        run.audit("answer", trigger=state.trigger.model_dump(mode="json"), diagnosis=state.diagnosis,
                  result={"answer": text[:4000]})
        return run.update(text.splitlines()[1] if "\n" in text else text, answer=text, outcome=Outcome.ANSWERED)


def build() -> StateGraph:
    g = StateGraph(IncidentState, context_schema=Deps)
    for node in (gather_context, diagnose, look_again, retrieve_runbooks, answer):
        g.add_node(node.__name__, node)
    g.add_edge(START, "gather_context")
    g.add_edge("gather_context", "diagnose")
    g.add_conditional_edges("diagnose", route_after_diagnose)
    g.add_edge("look_again", "gather_context")
    g.add_edge("retrieve_runbooks", "answer")
    g.add_edge("answer", END)
    return g


def make_graph() -> Any:
    """For `langgraph dev` / Studio (langgraph.json)."""
    return build().compile()


__all__ = ["answer", "build", "make_graph"]
