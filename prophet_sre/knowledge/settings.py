"""The knowledge package's settings: `Settings.knowledge` (env `PROPHET_KNOWLEDGE__*`, defined in config.py
with every other group) plus the top-level `PROPHET_CHROMA_URL` the runbook issue named."""

from __future__ import annotations

from typing import Any

from prophet_sre.config import KnowledgeSettings


def knowledge_settings(settings: Any) -> KnowledgeSettings:
    """The root settings' knowledge group, with `PROPHET_CHROMA_URL` (a top-level setting, the name the
    issue gave it) filled in when the group does not name a server itself."""
    ks: KnowledgeSettings = settings.knowledge
    url = ks.chroma_url or getattr(settings, "chroma_url", None)
    return ks.model_copy(update={"chroma_url": url}) if url != ks.chroma_url else ks


__all__ = ["KnowledgeSettings", "knowledge_settings"]
