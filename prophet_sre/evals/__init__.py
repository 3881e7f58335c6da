"""Evaluation: run Prophet end to end on scenarios (`world`, `episode`) and score it."""
