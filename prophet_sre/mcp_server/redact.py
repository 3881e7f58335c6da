"""Keep secrets out of what the MCP server returns: Secret data, credential-looking values, tokens.

Why here and not in the tools: MCP callers are remote programs and language models whose context may be
logged anywhere, so everything the server sends passes one last filter, whatever tool produced it. The
kube tools already show Secrets without their values; this is the belt to those braces:

- Secret `data` / `stringData` values (in JSON, YAML or `key: value` text) become `<redacted>`;
- values of env vars, flags and settings whose *name* looks like a credential (`PASSWORD`, `TOKEN`,
  `API_KEY`, `SECRET`, `CREDENTIALS`, ...) are masked, as are URL passwords (`postgres://u:p@h`);
- well-known token shapes (bearer tokens, JWTs, private key blocks, AWS/GitHub/Slack keys) are masked
  wherever they appear.

Masking keeps the first characters' *kind* out too: `***` only, so a masked value leaks no prefix.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
REDACTED = "<redacted>"

_CRED_NAME = (r"[A-Za-z0-9_.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
              r"private[_-]?key|credentials?|authorization|session[_-]?key|client[_-]?secret|signing[_-]?key)"
              r"[A-Za-z0-9_.-]*")
# NAME=value, NAME: value, "NAME": "value", --name=value (env listings, describe output, YAML, JSON)
_KV = re.compile(
    rf"""(?P<key>["']?(?:--)?{_CRED_NAME}["']?)(?P<sep>\s*[:=]\s*)(?P<q>["']?)(?P<val>[^\s"',}}\]]+)(?P=q)""",
    re.IGNORECASE)
# describe-style env lines: "  DB_PASSWORD:  s3cr3t" handled above; "value: x" after a name line below
_ENV_PAIR = re.compile(
    rf"""(?P<head>\{{\s*"name"\s*:\s*"{_CRED_NAME}"\s*,\s*"value"\s*:\s*")(?P<val>[^"]*)(?P<tail>")""",
    re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<pre>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<val>[^@\s/]+)(?P<post>@)", re.IGNORECASE)
_TOKENS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),  # GitHub
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"),  # OpenAI-style / Anthropic-style keys
]
# YAML/text blocks under `data:` / `stringData:` of a Secret
_SECRET_KIND = re.compile(r"(?im)^\s*kind:\s*Secret\s*$|\"kind\"\s*:\s*\"Secret\"")
_DATA_BLOCK = re.compile(r"(?m)^(?P<indent>\s*)(?:data|stringData):\s*$")


_NOT_A_VALUE = ("name", "ref", "path", "names", "count", "mode", "type", "kind", "file", "budget")
"""Suffixes of credential-looking names whose values are not credentials (`secretName`, `tokenPath`)."""


def _mask_kv(m: re.Match[str]) -> str:
    key = m.group("key").strip("\"'-").lower()
    if m.group("val") in (MASK, REDACTED) or not m.group("val") or key.endswith(_NOT_A_VALUE):
        return m.group(0)
    return f"{m.group('key')}{m.group('sep')}{m.group('q')}{MASK}{m.group('q')}"


def _secret_blocks(text: str) -> str:
    """In YAML-ish text of a Secret, replace every value under `data:`/`stringData:` with `<redacted>`."""
    if not _SECRET_KIND.search(text):
        return text
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    block_indent: int | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if stripped and indent > block_indent and ":" in stripped:
                key = stripped.split(":", 1)[0]
                out.append(" " * indent + f"{key}: {REDACTED}" + ("\n" if line.endswith("\n") else ""))
                continue
            if stripped and indent <= block_indent:
                block_indent = None
        m = _DATA_BLOCK.match(line)
        if m:
            block_indent = len(m.group("indent"))
        out.append(line)
    return "".join(out)


def redact_text(text: str) -> str:
    """`text` with Secret values, credential-named values, URL passwords and token shapes masked."""
    if not text:
        return text
    text = _secret_blocks(text)
    for pattern in _TOKENS:
        text = pattern.sub(MASK, text)
    text = _ENV_PAIR.sub(lambda m: f"{m.group('head')}{MASK}{m.group('tail')}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('post')}", text)
    return _KV.sub(_mask_kv, text)


def _is_cred_name(name: str) -> bool:
    return (re.fullmatch(_CRED_NAME, name, re.IGNORECASE) is not None
            and not name.lower().endswith(_NOT_A_VALUE))


def redact_data(value: Any, *, _secret: bool = False) -> Any:
    """A deep copy of JSON-like `value` with Secret data, credential-named fields and tokens masked."""
    if isinstance(value, dict):
        is_secret = _secret or value.get("kind") == "Secret"
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if is_secret and key in ("data", "stringData") and isinstance(v, dict):
                out[k] = {name: REDACTED for name in v}
            elif isinstance(v, str) and _is_cred_name(key):
                out[k] = MASK if v else v
            elif key == "value" and isinstance(v, str) and _is_cred_name(str(value.get("name", ""))):
                out[k] = MASK
            else:
                out[k] = redact_data(v, _secret=False)
        return out
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


__all__ = ["MASK", "REDACTED", "redact_data", "redact_text"]
