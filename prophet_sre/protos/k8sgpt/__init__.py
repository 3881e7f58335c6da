"""Generated k8sgpt stubs (scripts/gen_protos)."""
