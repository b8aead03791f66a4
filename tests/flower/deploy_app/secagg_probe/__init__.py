"""A probe app for the deployment test: each node adds a known update."""
