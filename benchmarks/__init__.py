"""Benchmarks of secagg against plain summation, Flower SecAgg+ and phe (``secagg bench``)."""
