"""Model architectures, addressed by name through the registry."""

from ferlab.models.registry import available, build, count_parameters, get_entry, register

__all__ = ["available", "build", "count_parameters", "get_entry", "register"]
