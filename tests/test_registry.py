"""The generic registry, and the three registries built on it."""

import pytest

from saliency_kd.errors import UnknownNameError
from saliency_kd.registry import Registry


def test_register_get_names_and_help():
    reg: Registry = Registry("widget")

    @reg.register("b")
    def b():
        """Bends things.

        More text that is not the help."""

    reg.add("a", 1, help="the number one")
    assert reg.get("b") is b and reg.get("a") == 1
    assert reg.names() == ["b", "a"]  # registration order
    assert reg.help("b") == "Bends things." and reg.help("a") == "the number one"
    assert "a" in reg and "c" not in reg and list(reg) == ["b", "a"] and len(reg) == 2
    assert reg.register("c", help="given")(str) is str and reg.help("c") == "given"


def test_unknown_name_lists_the_valid_ones():
    reg: Registry = Registry("student family")
    reg.add("encoder", 1)
    reg.add("causal", 2)
    with pytest.raises(UnknownNameError, match="unknown student family 'rnn'; valid student "
                                               "families: causal, encoder"):
        reg.get("rnn")


def test_a_name_is_registered_once():
    reg: Registry = Registry("widget")
    reg.add("x", 1)
    with pytest.raises(ValueError, match="widget 'x' is already registered"):
        reg.add("x", 2)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(lambda: None)
    assert reg.get("x") == 1


def test_an_attribution_method_is_registered_once():
    from saliency_kd.attribution import get_method, method_names, register

    before = get_method("saliency")
    with pytest.raises(ValueError, match="attribution method 'saliency' is already registered"):
        register("saliency")(lambda *a: None)
    assert get_method("saliency") is before and "saliency" in method_names()
    with pytest.raises(UnknownNameError, match="valid attribution methods"):
        get_method("nope")


def test_student_families_are_registered_under_their_own_name():
    from saliency_kd.student import FAMILIES, family_names
    from saliency_kd.student.base import Student

    assert sorted(family_names()) == ["causal", "encoder", "seq2seq", "setfit"]
    for name in family_names():
        cls = FAMILIES.get(name)
        assert issubclass(cls, Student) and cls.family == name
        assert FAMILIES.help(name)  # a one-line description for listings
        # Each family builds and loads itself: no caller picks the class by name.
        assert "build" in vars(cls) and cls.load.__func__ is not Student.load.__func__
