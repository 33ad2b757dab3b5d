"""The node contract: params (types, hard ranges, parsing), ports, schema JSON, hashes."""
import json

import pytest

import filmai_plugins as fa
from filmai_plugins import Node, Param, Port
from filmai_plugins.errors import ParamError, RegistryError


class Sample(Node):
    """A node using every param type."""

    id = "test.sample"
    family = "util"
    inputs = (Port("input", "Frames", channels=("R", "G", "B")),)
    outputs = (Port("output", "Frames"),)
    params = (
        Param("steps", "int", 10, min=1, max=100, stage="train"),
        Param("gain", "float", 1.0, min=0.0, max=8.0, soft_max=2.0, animatable=True),
        Param("flip", "bool", False),
        Param("mode", "enum", "fast", choices=("fast", "best")),
        Param("note", "string", ""),
        Param("lut", "path", "", path_kind="file"),
        Param("tint", "color", (1.0, 1.0, 1.0)),
    )

    def process(self, frame, ctx):
        return frame


def test_defaults_and_parsing_from_cli_strings():
    p = Sample.resolve_params({"gain": "1.5", "flip": "yes", "mode": "best", "tint": "0.5,0.6,0.7"})
    assert p == {"gain": 1.5, "flip": True, "mode": "best", "note": "", "lut": "", "tint": (0.5, 0.6, 0.7)}
    assert Sample.resolve_params({"steps": "20"}, "train")["steps"] == 20
    assert Sample.resolve_params({"steps": "20.0"}, "train")["steps"] == 20


@pytest.mark.parametrize("values,match", [
    ({"gain": "9"}, "9.0 is above the maximum 8.0"),
    ({"gain": "-1"}, "below the minimum"),
    ({"gain": "nan"}, "must be finite"),
    ({"flip": "maybe"}, "expected true/false"),
    ({"mode": "slow"}, "expected one of fast, best"),
    ({"tint": "1,2"}, "expected 3 components"),
    ({"gian": "1"}, "unknown param 'gian'"),
    ({"steps": "5"}, "'steps' is a training param"),
])
def test_bad_values_are_param_errors(values, match):
    with pytest.raises(ParamError, match=match):
        Sample.resolve_params(values)


def test_int_param_rejects_fractions():
    with pytest.raises(ParamError, match="not a whole number"):
        Sample.resolve_params({"steps": 2.5}, "train")


def test_schema_is_complete_json():
    s = json.loads(json.dumps(Sample.schema()))
    assert s["id"] == "test.sample" and s["scope"] == "frame" and s["help"] == "A node using every param type."
    gain = next(p for p in s["params"] if p["name"] == "gain")
    assert gain == {"name": "gain", "type": "float", "default": 1.0, "label": "Gain", "help": "", "min": 0.0,
                    "max": 8.0, "soft_min": 0.0, "soft_max": 2.0, "animatable": True, "stage": "run"}
    assert next(p for p in s["params"] if p["name"] == "mode")["choices"] == ["fast", "best"]
    assert s["inputs"][0]["channels"] == ["R", "G", "B"]


def test_params_hash_is_order_independent_and_sensitive():
    a = Sample.params_hash({"gain": 1.0, "flip": False})
    assert a == Sample.params_hash({"flip": False, "gain": 1.0})
    assert a != Sample.params_hash({"gain": 1.5, "flip": False})
    assert a != Sample.params_hash({"gain": 1.0, "flip": False}, model_sha256="abc")


@pytest.mark.parametrize("attrs,match", [
    ({"id": "nonamespace"}, "must be namespaced"),
    ({"version": "1"}, "must be semantic"),
    ({"params": (Param("model", "string", ""),)}, "reserved"),
    ({"params": (Param("a", "int", 1), Param("a", "int", 2))}, "declared twice"),
    ({"scope": "sequence"}, "without run_sequence"),
])
def test_invalid_declarations_are_rejected(attrs, match):
    cls = type("Broken", (Sample,), dict(attrs))
    with pytest.raises(RegistryError, match=match):
        cls.validate_class()


def test_every_registered_node_has_a_valid_schema():
    for node_id, cls in fa.nodes().items():
        cls.validate_class()
        s = json.loads(json.dumps(cls.schema()))
        assert s["id"] == node_id and s["help"], f"{node_id} needs help text"
        for p in s["params"]:
            assert p["help"], f"{node_id}.{p['name']} needs help text"
