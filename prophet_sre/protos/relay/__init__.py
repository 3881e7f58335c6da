"""Generated relay stubs (scripts/gen_protos)."""
