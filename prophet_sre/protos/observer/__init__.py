"""Generated observer stubs (scripts/gen_protos)."""
