"""saliency-kd: attribution-based knowledge distillation of language models.

The public API mirrors the CLI: every verb is a function here.
"""

from .attribute import AttributeConfig, attribute
from .attribution import AttributionOptions, get_method, method_names
from .data import DataSpec, Example, load_examples
from .rationales import RationaleConfig
from .teacher import Teacher, TeacherConfig

__version__ = "0.1.0"

__all__ = [
    "AttributeConfig", "AttributionOptions", "DataSpec", "Example", "RationaleConfig", "Teacher",
    "TeacherConfig", "attribute", "get_method", "load_examples", "method_names",
]
