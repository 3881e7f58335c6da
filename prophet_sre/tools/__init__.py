"""tools: everything Prophet uses to look at (and later act on) clusters and their signals.

Role: each tool returns the same envelope (`ToolResult`: status, typed data, bounded text, what was
omitted and how to get it) and fails only with the classes of `prophet_sre.errors`, so the graph, the
MCP server and the CLI degrade instead of crashing. Third-party cluster and HTTP clients are imported
only inside this package. Limits: no decisions here - tools report, agents decide; and nothing here
imports the simulator (`prophet_sre.sim`).

Modules: `envelope` (ToolResult), `budget` (token budgets), `kube` (API access + read tools),
`analyzers` (K8sGPT-compatible analyzers), `analyze` (findings from every source).
"""

from prophet_sre.tools.budget import Budget
from prophet_sre.tools.envelope import ToolResult, ToolStatus, estimate_tokens

__all__ = ["Budget", "ToolResult", "ToolStatus", "estimate_tokens"]
