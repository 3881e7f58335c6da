"""Generated flow stubs (scripts/gen_protos)."""
