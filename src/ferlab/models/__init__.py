"""Model architectures, addressed by name through the registry. Importing the package imports
the architecture modules, whose @register decorators fill the registry (the registry itself
imports none of them: no cycle)."""

from ferlab.models import cnn, ensemble, vit  # noqa: F401  (registration)
from ferlab.models.registry import available, build, count_parameters, get_entry, register

__all__ = ["available", "build", "count_parameters", "get_entry", "register"]
