"""Attribution methods, registered by name (see `method_names()`)."""

from . import attention, gradient, occlusion  # noqa: F401  (registers the methods)
from .base import AttributionOptions, MethodOutput, MethodSpec, get_method, method_names, register

__all__ = ["AttributionOptions", "MethodOutput", "MethodSpec", "get_method", "method_names",
           "register"]
