"""One `Settings` object for all of Prophet, built once at the entry point and passed down.

Precedence, highest first: explicit arguments (CLI flags) > environment (`PROPHET_*`, nested groups
with `__`, e.g. `PROPHET_SIM__SPEED=20`) > the YAML file named by `PROPHET_CONFIG` > defaults.
This is the only module that reads the environment; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from prophet_sre.errors import ConfigError
from prophet_sre.policy.spec import LLMSpec


class SimSettings(BaseModel):
    """The simulated cluster (`prophet sim up`)."""

    host: str = "127.0.0.1"
    """Bind address. Loopback by default: the simulator has no authentication worth the name."""
    port: int = Field(default=0, ge=0, le=65535)
    """API server port; 0 picks a free one (printed and written to the kubeconfig)."""
    speed: float = Field(default=1.0, gt=0, le=1000)
    """Sim seconds per wall second. Evals run at 10-50x; the demo at ~5x so people can follow it."""
    workers: int = Field(default=2, ge=0, le=5000)
    """Worker nodes per cluster (plus one tainted control-plane node), like a small kind cluster."""
    kubeconfig: Path = Path("~/.kube/prophet-sim.yaml")
    """Where `prophet sim up` writes its kubeconfig (context `prophet-sim`)."""


class KubeSettings(BaseModel):
    """How Prophet reaches clusters."""

    kubeconfig: Path | None = None
    """None: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster config."""
    context: str | None = None
    request_timeout_s: float = Field(default=10.0, gt=0)
    """Per API call. Ten seconds is what kubectl users tolerate before assuming the server is down."""
    # [tools] retries, paging and concurrency of the kube access layer (prophet_sre/tools/kube)
    retries: int = Field(default=3, ge=0, le=10)
    """Extra attempts after a 5xx, 429, timeout or dropped connection (reads only). Three attempts with
    the default back-off give up within ~1.5 s, so a dead API server is reported quickly."""
    backoff_s: float = Field(default=0.2, ge=0)
    """First back-off in seconds; doubles on each retry (0.2, 0.4, 0.8 ...)."""
    backoff_max_s: float = Field(default=2.0, ge=0)
    """Cap of one back-off, and of a server's Retry-After, in seconds: a tool call must stay interactive."""
    page_size: int = Field(default=500, ge=1, le=10_000)
    """Items per list request (`limit`), kubectl's chunk size: bounded memory per response on the server."""
    concurrency: int = Field(default=8, ge=1, le=64)
    """Parallel requests in one analysis (different kinds listed at once, pod logs fetched at once)."""


class ToolSettings(BaseModel):  # [tools] bounded tool output (prophet_sre/tools/envelope.py, budget.py)
    """Limits on what a tool hands to a model."""

    token_budget: int = Field(default=2000, ge=200, le=100_000)
    """Per tool call, in estimated tokens (characters / 4) of `ToolResult.text`. 2,000 keeps a dozen tool
    calls inside a small model's context; tools summarise or paginate to fit and say what they left out."""
    log_tail: int = Field(default=100, ge=1, le=10_000)
    """Default `tail` of the logs tool: the last lines of a container, K8sGPT's Log analyzer's window."""
    events_since_s: float = Field(default=3600.0, gt=0)
    """Window of the cluster summary's recent warning events, in seconds: the last hour is what is on fire."""


class K8sGPTSettings(BaseModel):  # [k8sgpt] prophet_sre/tools/k8sgpt
    """Where K8sGPT's findings come from: a `k8sgpt serve` gRPC server, else the operator's `Result` objects."""

    address: str | None = None
    """`host:port` of `k8sgpt serve` (its default port is 8080; `tls://host:port` for TLS). None: do not
    call a server; read `Result` objects if the operator's CRD exists, else fall back to our analyzers."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Deadline of one Analyze call, in seconds. A full-cluster analysis on a large cluster takes tens of
    seconds (k8sgpt lists every kind and fetches events per pod), so this is longer than a kube read."""
    connect_timeout_s: float = Field(default=2.0, gt=0)
    """How long to wait for the server's channel to connect, in seconds: a down server must be reported
    quickly so the analyze tool falls back to our analyzers without the user noticing."""
    results_namespace: str | None = None
    """Namespace of the operator's `Result` objects (that of the `K8sGPT` resource); None: all namespaces."""


class PrometheusSettings(BaseModel):
    """Where Prophet reads metrics; None: no Prometheus (kube-derived signals only)."""

    url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    """Per query. Short on purpose: a slow Prometheus must not stall a diagnosis; the tool degrades."""
    anomaly_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    """Anomaly score above which a signal becomes a finding (the `anomalyScoreThreshold` default)."""
    time_scale: float = Field(default=1.0, gt=0, le=1000)
    """Cluster seconds per wall-clock second of the samples Prometheus stores. Prometheus stamps samples
    at scrape time (wall clock); a simulator running at 50x packs 50 cluster seconds into each wall second,
    so PromQL windows and rates written in cluster seconds must be converted. 1 for real clusters; the
    simulated worlds (`prophet demo`, evals) set it to their speed."""


class HubbleSettings(BaseModel):
    """Hubble Relay's Observer API; None: no network evidence."""

    address: str | None = None
    """`host:port` (the CLI's default is localhost:4245); a `tls://` prefix means TLS."""
    timeout_s: float = Field(default=5.0, gt=0)


class KnowledgeSettings(BaseModel):
    """Where runbooks and past incidents are stored and how they are embedded."""

    chroma_url: str | None = None
    """A Chroma server (`http://host:8000`, env `PROPHET_CHROMA_URL`). None: an embedded Chroma under
    `<data_dir>/chroma`, which needs no server and is what a laptop or a single operator replica wants."""
    collection_prefix: str = Field(default="prophet", min_length=1, max_length=40, pattern=r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$")
    """Collections are `<prefix>-runbooks-<embedder>` and `<prefix>-incidents-<embedder>`: one Chroma can
    serve several installations, and vectors of different embedders never share a collection."""
    ollama_url: str | None = None
    """An Ollama endpoint (`http://127.0.0.1:11434`) to embed with instead of the bundled WordLlama."""
    ollama_model: str = "nomic-embed-text"
    """Ollama embedding model (`ollama pull nomic-embed-text`)."""
    ollama_timeout_s: float = Field(default=10.0, gt=0)
    """Per embedding request, in seconds; a slow or absent Ollama falls back to WordLlama, loudly."""
    index_builtin: bool = True
    """Index the runbooks Prophet ships on first use (only files whose content changed are re-embedded)."""
    candidates: int = Field(default=20, ge=1, le=500)
    """How many hits each retriever (vector, BM25, symptoms) contributes before fusion."""
    rrf_k: int = Field(default=60, ge=1)
    """Reciprocal rank fusion constant (60, as in the paper that introduced it): larger flattens ranks."""
    memory_min_similarity: float = Field(default=0.55, ge=0.0, le=1.0)
    """A past incident below this cosine similarity to the new one gives no hints: it is not 'similar'."""


class AgentSettings(BaseModel):
    """How the remediation graph behaves around its agents (prophet_sre/graphs)."""

    verify_deadline_s: float = Field(default=180.0, gt=0, le=3600)
    """How long, on the cluster's clock, a fix has to make its verification checks pass before the
    executor calls it a regression and rolls back. Three minutes covers a rollout of a few replicas with
    readiness probes; a longer wait keeps a broken change in place longer."""
    look_again_below: float = Field(default=0.7, ge=0.0, le=1.0)
    """A diagnosis less confident than this (or `unknown`) is not planned on yet: Prophet waits and gathers
    the evidence again, as an SRE looks again a minute later (the first signal often comes before its
    cause shows: an error spike before the OOM kill)."""
    look_again_wait_s: float = Field(default=20.0, ge=0, le=600)
    """Cluster seconds between two looks."""
    look_again_max: int = Field(default=3, ge=0, le=10)
    """Extra looks at most; then the best diagnosis so far goes on (and the critic judges its confidence)."""
    verify_hold_s: float = Field(default=30.0, ge=0, le=600)
    """Cluster seconds the checks must keep passing before a fix counts as verified: fresh pods of a
    leaking release pass every check until their next OOM kill, so "passed once" is not "fixed"."""
    verify_poll_s: float = Field(default=1.0, gt=0, le=60)
    """Wall-clock seconds between two evaluations of the verification checks."""
    identity: str = "prophet"
    """Who Prophet acts as in the audit log and in Kubernetes Events (the operator sets its pod name)."""


class MCPSettings(BaseModel):  # [mcp] prophet_sre/mcp_server
    """The MCP server (`prophet mcp`): where it listens over HTTP and who may call it."""

    host: str = "127.0.0.1"
    """Bind address of `prophet mcp --http`. Loopback by default; any other address needs `tokens`."""
    port: int = Field(default=8765, ge=0, le=65535)
    """HTTP port; 0 picks a free one (printed at start)."""
    tokens: SecretStr | None = None
    """`PROPHET_MCP__TOKENS`: bearer tokens as `name:token:rw,name2:token2:ro` (`ro` read-only, `rw` may call
    write tools). The name is the caller's identity in the audit log; tokens are at least 16 characters."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host headers accepted besides loopback names and the bind address (DNS-rebinding defence), e.g.
    `prophet-mcp.prophet.svc:8765`; `name:*` accepts any port."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Browser Origins accepted besides loopback ones; requests without an Origin header are not browsers."""
    allow_writes: bool = False
    """Expose propose_plan/approve_action/reject_action/execute (`--allow-writes`). Off: read tools only."""
    query_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Longest wall time of one `ask`/`diagnose`/`POST /mcp/query`; the graph keeps its own tool timeouts."""
    max_concurrent_runs: int = Field(default=4, ge=1, le=64)
    """Graph runs (ask, diagnose, propose) at once; more wait. Reads are not limited by this."""


class Settings(BaseSettings):
    """Root settings; every field has a default so `Settings()` works on a fresh machine."""

    model_config = SettingsConfigDict(env_prefix="PROPHET_", env_nested_delimiter="__", extra="forbid")

    log_level: str = "INFO"
    data_dir: Path = Path("~/.prophet")
    """Audit log, checkpoints, Chroma index, incident memory."""
    sim: SimSettings = SimSettings()
    kube: KubeSettings = KubeSettings()
    tools: ToolSettings = ToolSettings()  # [tools]
    k8sgpt: K8sGPTSettings = K8sGPTSettings()  # [k8sgpt]
    prometheus: PrometheusSettings = PrometheusSettings()
    hubble: HubbleSettings = HubbleSettings()
    agents: AgentSettings = AgentSettings()
    llm: LLMSpec = LLMSpec()
    """The default LLM (`PROPHET_LLM__PROVIDER=ollama`, `PROPHET_LLM__MODEL=llama3.2`, ...); a policy's own
    `llm` wins. Provider `none` (the default): the deterministic reasoner alone."""
    llm_api_key: SecretStr | None = None
    """`PROPHET_LLM_API_KEY`: the key of an OpenAI-compatible or Anthropic endpoint (never logged)."""
    knowledge: KnowledgeSettings = KnowledgeSettings()
    mcp: MCPSettings = MCPSettings()  # [mcp]
    chroma_url: str | None = None
    """`PROPHET_CHROMA_URL`: a Chroma server (http://host:8000) for runbooks and incident memory; None: an
    embedded Chroma under `data_dir`."""
    checkpoint_url: str | None = None
    """`PROPHET_CHECKPOINT_URL`: a PostgreSQL URL (postgresql://user:pass@host:5432/db) for the graph's
    checkpoints; None: SQLite under `data_dir` (single node)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    def data_path(self, *parts: str) -> Path:
        path = self.data_dir.expanduser().joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by `PROPHET_CONFIG` (lowest precedence above defaults)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("PROPHET_CONFIG")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"PROPHET_CONFIG={path}: cannot read it: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"PROPHET_CONFIG={path}: expected a mapping at the top level")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        env = "PROPHET_" + "__".join(str(x).upper() for x in first["loc"])
        raise ConfigError(f"setting {loc} ({env}): {first['msg']}") from e
