"""TPC-H query definitions shared by tests and benchmarks."""
