"""A tiny order-processing package used as a test repository."""
