"""Benchmarks of the flows on the local twin with realistic simulated latencies (`make bench`)."""
