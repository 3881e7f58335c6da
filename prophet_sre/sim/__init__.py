"""The simulated Kubernetes cluster: an API server real clients accept, with controllers and a clock.

It runs no containers. Controllers and (later) a behaviour model decide what pods do. It is the
embedded default for `prophet demo`, the tests and the eval harness, and it must stay honest: what it
shows is what a real cluster shows, and real `kubectl` is the judge.

Product code (agents, tools, MCP server, operator) never imports this package: it talks to the
simulator only over HTTP, exactly as it would to a real cluster.
"""
