"""Protocol buffers Prophet speaks: Hubble's `flow`, `observer` and `relay` packages, gRPC health, and
K8sGPT's `schema.v1` (`k8sgpt`: the `k8sgpt serve` analyzer and config services).

The `.proto` files here are written for Prophet from the published Cilium 1.19 field names and
numbers (they are not copies of Cilium's files), so a real `hubble` CLI can connect to the simulated
Hubble Relay. Each subpackage holds one `.proto` and its generated `*_pb2.py` / `*_pb2.pyi` /
`*_pb2_grpc.py` stubs; regenerate them with `scripts/gen_protos` after editing a `.proto`.
Nothing is imported here, so importing `prophet_sre.protos` costs nothing until a stub is used.
"""
