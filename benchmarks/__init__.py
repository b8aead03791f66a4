"""Benchmarks of secagg against plain FedAvg summation, Flower SecAgg+ and phe (``secagg bench``)."""
