"""A scripted chat model that supports tool binding and structured output - the stand-in for an LLM.

No LLM server can run here, so tests that exercise the LLM paths script the model's replies instead:
`ScriptedChatModel(replies=[AIMessage(...), ...])` answers each call with the next reply (tool calls
included), and `bind_tools` / `with_structured_output` work (LangChain's own fakes raise
NotImplementedError for both). Every test that uses it says so in its docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage


class ScriptedChatModel(GenericFakeChatModel):
    """Replies, in order, with the scripted messages; records every prompt it was sent in `seen`."""

    seen: list[list[BaseMessage]] = []
    bound_tools: list[Any] = []

    def __init__(self, replies: Iterable[AIMessage | str], **kw: Any) -> None:
        msgs = [r if isinstance(r, AIMessage) else AIMessage(content=r) for r in replies]
        super().__init__(messages=iter(msgs), **kw)
        self.seen = []
        self.bound_tools = []

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        self.bound_tools = list(tools)
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kw)


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    """An assistant message that calls one tool (a read tool, or the structured-output schema)."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])
