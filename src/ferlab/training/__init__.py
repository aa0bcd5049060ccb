"""Training on Lightning: the module, the run directory callbacks, and `run_training`."""
