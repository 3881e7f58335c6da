"""Generated health stubs (scripts/gen_protos)."""
