"""Prophet: an open-source AI SRE for Kubernetes.

Prophet watches clusters, diagnoses what is wrong, decides what to do and does it - safely - and answers
questions about the cluster for people and for other AI agents over MCP.

The import name is `prophet_sre` (the `prophet` name on PyPI belongs to a forecasting library); the
command is `prophet`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
