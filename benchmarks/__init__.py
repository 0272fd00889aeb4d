"""Benchmark harness: streams, methods, runs, records, tables (knows experiments, not loss terms)."""
