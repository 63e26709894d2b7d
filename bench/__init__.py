"""On-demand benchmarks against a raw-Temporal baseline (issue 14): `make bench`, `make bench QUICK=1`."""
