"""Side-by-side benchmarks of Thresher against its peers (run: ``python -m benchmarks NAME``)."""
