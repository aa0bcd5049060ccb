"""Training on Lightning: the module, the run directory callbacks, and `train`."""
