"""STAND-IN for Foundry's ``nuke`` Python module — NOT Nuke. Used only by tests/test_nuke.py.

Nuke cannot be installed here, so this module implements the API surface the FilmAI adapter
(hosts/nuke) calls, with Nuke's documented names and behaviour: nodes created through ``nuke.nodes.X``
and ``createNode``, groups with ``begin``/``end`` and Input/Output nodes, knobs (Int, Double, Boolean,
Enumeration, String, File, Color/AColor, Channel/ChannelMask, PyScript, Text, Tab) with ``setRange``
limiting only the slider, knob animation (``setAnimated``, ``setValueAt``, ``getValueAt``/``valueAt``,
``animation(s)`` with ``AnimationCurve``/``AnimationKey``; the curve shapes are this stand-in's reading of
Foundry's description of each interpolation), flags, menus, ``execute`` of a Write, ``ProgressTask``, ``executeInMainThread``
and ``executeInMainThreadWithResult``, ``knobChanged`` and ``updateUI`` callbacks, ``thisNode``/``thisKnob``,
``scriptOpen``/``scriptSave``, ``root()``, ``frame()``, ``message``, ``tprint``, ``pluginAddPath`` and ``env``.
Colour as Nuke's Project Settings and nodes have it, run with the real OpenColorIO: the Root's
``colorManagement``, ``OCIO_config`` (stock configs or custom), ``customOCIOConfigPath``, ``OCIOConfigPath``
(the config in use), ``workingSpaceLUT``, ``int8Lut``/``floatLut``; the Read's input transform and the
Write's output transform (``colorspace``, ``default (<name>)`` until set; ``raw`` skips it) and
``OCIOColorSpace`` (``in_colorspace``/``out_colorspace``) convert pixels as Nuke does.

It is made exactly as strict as the documented API, never kinder, so the adapter cannot depend on
something real Nuke refuses:

- ``Node.setInput(i, node)`` returns False (connects nothing) where ``canSetInput`` is False: ``i`` beyond
  ``maximumInputs()`` (a Group has one input per Input node inside it, so none before they exist; a Read
  has none) or a connection that would make a loop;
- ``createNode`` connects the selected node to input 0 only when the new node has an input (a Group made
  empty has none);
- the method is ``maximumInputs`` (and ``minimumInputs``), not ``maxInputs``;
- nodes and knobs are changed, and ``execute`` renders, on the main thread only (Nuke's Python API is
  not thread-safe): from another thread they raise, so work must hop with ``executeInMainThread`` /
  ``executeInMainThreadWithResult``; the latter, called from the main thread, raises instead of
  deadlocking as it would in Nuke, and (as in Nuke) returns None after printing the traceback when the
  call raises;
- ``Enumeration_Knob.setValue`` of an unknown item and a ChannelMask value naming no known layer raise;
  so does a ``colorspace`` knob set to a name the script's OCIO config does not have.

Pixels are real: a Read reads EXR files with OpenImageIO, every part of a multi-part file merged into Nuke's
channel names as Foundry's exrReader does (``_read_exr``; parts with different data windows are its error), and ``execute`` renders a Write's upstream
(Read, Switch, Group, Input, Output) into real EXR files, so the adapter's temp-Write → worker → Read
path runs on real data. Scripts are saved as JSON, not the .nk format. Names starting with ``_`` are
test controls of the stand-in (startup, event loop, cancel, stall timing) that real Nuke does not have;
the adapter never uses them.
"""
from __future__ import annotations

import json
import os
import queue
import re
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import OpenImageIO  # noqa: F401  (imported once here: its import time is not Nuke's, nor the adapter's)

STANDIN = True
env: Dict[str, Any] = {"gui": False, "NukeVersionMajor": 15, "NukeVersionMinor": 1}

# knob flags (Knob.h FlagMask)
SLIDER = 0x2
LOG_SLIDER = 0x4
STORE_INTEGER = 0x8
FORCE_RANGE = 0x10
DISABLED = 0x80
NO_ANIMATION = 0x100
DO_NOT_WRITE = 0x200
INVISIBLE = 0x400
STARTLINE = 0x1000
ENDLINE = 0x2000
READ_ONLY = 0x10000000
# Node.writeKnobs flags
TO_SCRIPT = 0x1
TO_VALUE = 0x2
WRITE_ALL = 0x8
WRITE_NON_DEFAULT_ONLY = 0x10

_MAIN_THREAD = threading.main_thread()


def _require_main(what: str) -> None:
    if threading.current_thread() is not _MAIN_THREAD:
        raise RuntimeError(f"{what}: called from thread {threading.current_thread().name!r}; Nuke's Python API is "
                           "not thread-safe (use nuke.executeInMainThread / executeInMainThreadWithResult)")

_PAD = re.compile(r"(#+|%0?(\d*)d)")


# ----- knobs --------------------------------------------------------------------------------------


class Knob:
    default: Any = ""

    def __init__(self, name: str, label: Optional[str] = None, *args: Any):
        self._name = name
        self._label = name if label is None else label
        self._value = self.default
        self._flags = 0
        self._tooltip = ""
        self._node: Optional["Node"] = None
        self._user = False

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def node(self) -> Optional["Node"]:
        return self._node

    def value(self, index: Optional[int] = None) -> Any:
        return self._value

    def getValue(self) -> Any:
        return self.value()

    def evaluate(self) -> Any:
        return self.value()

    def setValue(self, value: Any, index: Optional[int] = None) -> bool:
        _require_main(f"{self._name}.setValue")
        self._value = self._convert(value)
        self._changed()
        return True

    def _convert(self, value: Any) -> Any:
        return value

    def _changed(self) -> None:
        if self._node is not None:
            _fire_knob_changed(self._node, self)

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    def setTooltip(self, text: str) -> None:
        self._tooltip = text

    def tooltip(self) -> str:
        return self._tooltip

    def _state(self) -> Dict[str, Any]:
        return {"value": self._value}

    def _restore(self, state: Dict[str, Any]) -> None:
        self._value = state["value"]


class Tab_Knob(Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, text: str = ""):
        super().__init__(name, label)
        self._value = text


class String_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, text: str = ""):
        super().__init__(name, label)
        self._value = text

    def _convert(self, value: Any) -> Any:
        return "" if value is None else str(value)


class Multiline_Eval_String_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    def evaluate(self) -> str:
        return self._value  # no TCL expressions in the stand-in


class Boolean_Knob(Knob):
    default = False

    def _convert(self, value: Any) -> bool:
        return bool(value)


class Array_Knob(Knob):
    """Int/Double/Color knobs: ``setRange`` sets the slider only; any value can be set.

    Animation as Nuke documents it: ``setAnimated`` first (refused with False on a knob flagged
    NO_ANIMATION), then ``setValueAt(value, time, index)`` sets keys and ``setValue`` sets a key at the
    current frame; ``value()`` is the value at the current frame, ``getValueAt``/``valueAt`` at any time;
    ``animation(index)``/``animations()`` give the curves (:class:`AnimationCurve`)."""

    default = 0.0
    size = 1

    def __init__(self, name: str, label: Optional[str] = None, *args: Any):
        super().__init__(name, label)
        self._values = [self.default] * self.size
        self._range = (0.0, 1.0)
        self._curves: Dict[int, "AnimationCurve"] = {}

    def setRange(self, lo: float, hi: float) -> None:
        self._range = (lo, hi)

    def range(self):
        return self._range

    def arraySize(self) -> int:
        return self.size

    def _indices(self, index: Optional[int]) -> List[int]:
        if index is None or index == -1:
            return list(range(self.size))
        if not 0 <= index < self.size:
            raise IndexError(f"{self._name}: index {index} out of range")
        return [index]

    def _at(self, i: int, time: float) -> Any:
        curve = self._curves.get(i)
        return self._values[i] if curve is None else self._from_curve(curve.evaluate(time))

    def _from_curve(self, v: float) -> Any:
        return float(v)

    def value(self, index: Optional[int] = None) -> Any:
        now = _ROOT["frame"]._values[0]
        if index is None:
            return self._at(0, now) if self.size == 1 else [self._at(i, now) for i in range(self.size)]
        return self._at(index, now)

    def setValue(self, value: Any, index: Optional[int] = None) -> bool:
        _require_main(f"{self._name}.setValue")
        if index is None and isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            items = [(i, value) for i in self._indices(index)]
        now = _ROOT["frame"]._values[0]
        for i, v in items:
            if i in self._curves:  # an animated channel: a key at the current frame
                self._curves[i].setKey(now, self._one(v))
            else:
                self._values[i] = self._one(v)
        self._changed()
        return True

    def _one(self, v: Any) -> Any:
        return float(v)

    # ----- animation
    def isAnimated(self, index: int = -1, view: Any = None) -> bool:
        return bool(self._curves) if index in (None, -1) else index in self._curves

    def setAnimated(self, index: int = -1, view: Any = None) -> bool:
        _require_main(f"{self._name}.setAnimated")
        if self._flags & NO_ANIMATION:
            return False
        now = _ROOT["frame"]._values[0]
        for i in self._indices(index):
            if i not in self._curves:
                curve = AnimationCurve(self, i)
                curve.setKey(now, self._values[i])
                self._curves[i] = curve
        self._changed()
        return True

    def clearAnimated(self, index: int = -1, view: Any = None) -> bool:
        _require_main(f"{self._name}.clearAnimated")
        now = _ROOT["frame"]._values[0]
        for i in self._indices(index):
            curve = self._curves.pop(i, None)
            if curve is not None:
                self._values[i] = self._from_curve(curve.evaluate(now))
        self._changed()
        return True

    def setValueAt(self, value: Any, time: float, index: int = -1, view: Any = None) -> bool:
        """A key at ``time``; False (nothing set) on a channel that is not animated (``setAnimated`` first)."""
        _require_main(f"{self._name}.setValueAt")
        indices = self._indices(index)
        if any(i not in self._curves for i in indices):
            return False
        for i in indices:
            self._curves[i].setKey(time, self._one(value))
        self._changed()
        return True

    def getValueAt(self, time: float, index: int = -1, view: Any = None) -> Any:
        if index in (None, -1):
            values = [self._at(i, time) for i in range(self.size)]
            return values[0] if self.size == 1 else values
        return self._at(index, time)

    valueAt = getValueAt

    def animation(self, chan: int, view: Any = None) -> Optional["AnimationCurve"]:
        return self._curves.get(chan)

    def animations(self, view: Any = None) -> List["AnimationCurve"]:
        return [self._curves[i] for i in sorted(self._curves)]

    def hasExpression(self, index: int = -1, view: Any = None) -> bool:
        return False  # the stand-in has no expressions

    def _state(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {"value": list(self._values), "range": list(self._range)}
        if self._curves:
            state["curves"] = {str(i): [[k.x, k.y, k.interpolation] for k in c.keys()]
                               for i, c in sorted(self._curves.items())}
        return state

    def _restore(self, state: Dict[str, Any]) -> None:
        self._values = list(state["value"])
        self._range = tuple(state.get("range", self._range))
        self._curves = {}
        for i, keys in (state.get("curves") or {}).items():
            curve = AnimationCurve(self, int(i))
            for x, y, interpolation in keys:
                curve.setKey(x, y).interpolation = interpolation
            self._curves[int(i)] = curve


# Interpolation of animation keys, as Nuke names them (the numbers are the stand-in's own).
SMOOTH, CONSTANT, LINEAR, CATMULL_ROM, HORIZONTAL, CUBIC, BREAK = 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400
USER_SET_SLOPE = 0x1


class AnimationKey:
    """One key of a curve: ``x`` (frame), ``y``, ``interpolation``; ``lslope``/``rslope`` as evaluated."""

    def __init__(self, x: float, y: float, interpolation: int = SMOOTH):
        self.x, self.y, self.interpolation = float(x), float(y), interpolation
        self.extrapolation = CONSTANT
        self.lslope = self.rslope = 0.0
        self.la = self.ra = 1.0

    def __repr__(self) -> str:
        return f"<AnimationKey {self.x}: {self.y}>"


class AnimationCurve:
    """Keys of one knob channel, evaluated as Nuke documents the interpolations: CONSTANT holds the key's
    value to the next key, LINEAR points the slopes at the neighbouring keys, CATMULL_ROM takes the slope
    between the neighbours, SMOOTH (Nuke's default) is CATMULL_ROM clamped so the curve never leaves the
    range of its keys (flat at a peak), HORIZONTAL is flat; spans are cubic Hermite, and the curve is held
    before the first key and after the last (constant extrapolation). The exact smooth slopes are this
    stand-in's reading of that description; the adapter only asks ``getValueAt``, so in Nuke it gets
    Nuke's own curve."""

    def __init__(self, knob: Array_Knob, index: int):
        self._knob, self._index = knob, index
        self._keys: List[AnimationKey] = []

    def knob(self) -> Array_Knob:
        return self._knob

    def knobIndex(self) -> int:
        return self._index

    def keys(self) -> List[AnimationKey]:
        self._slopes()
        return list(self._keys)

    def size(self) -> int:
        return len(self._keys)

    def setKey(self, t: float, y: float) -> AnimationKey:
        for key in self._keys:
            if key.x == float(t):
                key.y = float(y)
                return key
        key = AnimationKey(t, y)
        self._keys.append(key)
        self._keys.sort(key=lambda k: k.x)
        return key

    def removeKey(self, keys: List[AnimationKey]) -> None:
        self._keys = [k for k in self._keys if k not in keys]

    def clear(self) -> None:
        self._keys = []

    def changeInterpolation(self, keys: List[AnimationKey], type: int) -> None:
        if type not in (SMOOTH, CONSTANT, LINEAR, CATMULL_ROM, HORIZONTAL):
            raise NotImplementedError(f"the nuke stand-in does not evaluate interpolation {type:#x}")
        for key in keys:
            key.interpolation = type

    def noExpression(self) -> bool:
        return True

    def expression(self) -> str:
        return "curve"

    def constant(self) -> bool:
        return len({k.y for k in self._keys}) <= 1

    def _slopes(self) -> None:
        keys = self._keys
        for i, key in enumerate(keys):
            if key.interpolation & USER_SET_SLOPE:
                continue
            prev = keys[i - 1] if i > 0 else None
            nxt = keys[i + 1] if i + 1 < len(keys) else None
            left = (key.y - prev.y) / (key.x - prev.x) if prev else None
            right = (nxt.y - key.y) / (nxt.x - key.x) if nxt else None
            kind = key.interpolation
            if kind == LINEAR:
                key.lslope = left if left is not None else (right or 0.0)
                key.rslope = right if right is not None else (left or 0.0)
                continue
            if kind in (HORIZONTAL, CONSTANT) or prev is None or nxt is None:
                # an end key: flat when smooth (ease in and out), else towards its one neighbour
                one_side = right if left is None else left
                slope = 0.0 if kind in (HORIZONTAL, CONSTANT, SMOOTH) or one_side is None else one_side
            else:
                slope = (nxt.y - prev.y) / (nxt.x - prev.x)  # Catmull-Rom
                if kind == SMOOTH:
                    if left * right <= 0:
                        slope = 0.0  # a peak or a dip: flat, never overshooting
                    else:
                        limit = 3.0 * min(abs(left), abs(right))
                        slope = max(-limit, min(limit, slope))
            key.lslope = key.rslope = slope

    def evaluate(self, t: float) -> float:
        keys = self._keys
        if not keys:
            return float(self._knob._values[self._index])
        self._slopes()
        t = float(t)
        if t <= keys[0].x:
            return keys[0].y
        if t >= keys[-1].x:
            return keys[-1].y
        for k0, k1 in zip(keys, keys[1:]):
            if k0.x <= t <= k1.x:
                if k0.interpolation & ~USER_SET_SLOPE == CONSTANT:
                    return k0.y if t < k1.x else k1.y
                dx = k1.x - k0.x
                s = (t - k0.x) / dx
                h00, h10 = 2 * s ** 3 - 3 * s ** 2 + 1, s ** 3 - 2 * s ** 2 + s
                h01, h11 = -2 * s ** 3 + 3 * s ** 2, s ** 3 - s ** 2
                return h00 * k0.y + h10 * dx * k0.rslope + h01 * k1.y + h11 * dx * k1.lslope
        return keys[-1].y  # pragma: no cover


class Int_Knob(Array_Knob):
    default = 0

    def _one(self, v: Any) -> int:
        return int(v)

    def _from_curve(self, v: float) -> int:
        return int(round(v))


class Double_Knob(Array_Knob):
    pass


class Color_Knob(Array_Knob):
    size = 3


class AColor_Knob(Array_Knob):
    size = 4


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, items: Optional[List[str]] = None):
        super().__init__(name, label)
        self._items = list(items or [])
        self._value = self._items[0] if self._items else ""

    def values(self) -> List[str]:
        return list(self._items)

    def _convert(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return self._items[value]
        if str(value) not in self._items:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._items}")
        return str(value)

    def _state(self) -> Dict[str, Any]:
        return {"value": self._value, "items": self._items}

    def _restore(self, state: Dict[str, Any]) -> None:
        self._items = list(state.get("items", self._items))
        self._value = state["value"]


# ----- colour (OpenColorIO, as Nuke's Project Settings > Color tab and the Read/Write colorspace knobs) -----

#: Stock configs of the ``OCIO_config`` knob -> the config the stand-in loads for each. nuke-default is a
#: stand-in file (tests/nuke_standin/nuke-default); Foundry's CG config is OCIO's own built-in of that name.
_STOCK_CONFIGS = {
    "nuke-default": os.path.join(os.path.dirname(os.path.abspath(__file__)), "nuke-default", "config.ocio"),
    "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1": "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
}
_OCIO_CACHE: Dict[str, Any] = {}


def _ocio_path() -> str:
    """The config the script uses: ``customOCIOConfigPath`` when ``OCIO_config`` is custom, else the stock one."""
    choice = _ROOT["OCIO_config"].value()
    return _ROOT["customOCIOConfigPath"].value() if choice == "custom" else _STOCK_CONFIGS[choice]


def _ocio_config():
    import PyOpenColorIO as ocio

    path = _ocio_path()
    if path not in _OCIO_CACHE:
        _OCIO_CACHE[path] = ocio.Config.CreateFromFile(path)
    return _OCIO_CACHE[path]


def _colorspace_name(value: str) -> str:
    """A knob value (a name, a role, or ``default (name)``) -> the config's colourspace name."""
    text = str(value)
    if text.startswith("default (") and text.endswith(")"):
        text = text[len("default ("):-1]
    cs = _ocio_config().getColorSpace(text)
    if cs is None:
        raise ValueError(f"colorspace {value!r} is not in the OCIO config {_ocio_path()}")
    return cs.getName()


def _convert_rgb(pixels: "np.ndarray", names: List[str], src: str, dst: str) -> "np.ndarray":
    """R, G, B of ``pixels`` from ``src`` to ``dst`` with OCIO's CPU processor (data spaces: unchanged)."""
    s, d = _colorspace_name(src), _colorspace_name(dst)
    rgb_names = ("rgba.red", "rgba.green", "rgba.blue")
    if s == d or not all(c in names for c in rgb_names):
        return pixels
    idx = [names.index(c) for c in rgb_names]
    rgb = np.ascontiguousarray(pixels[..., idx], dtype=np.float32)
    _ocio_config().getProcessor(s, d).getDefaultCPUProcessor().applyRGB(rgb)
    out = np.array(pixels, dtype=np.float32, copy=True)
    out[..., idx] = rgb
    return out


class _Colorspace_Knob(Enumeration_Knob):
    """A colourspace menu filled from the script's OCIO config: its colourspace names and roles, and for a
    Read or Write ``default (<name>)``, the project's LUT for the file type (what ``value()`` returns until
    set). Setting a name the config does not have raises, as an Enumeration_Knob does."""

    def __init__(self, name: str, label: Optional[str] = None, default: Optional[Callable[[], str]] = None,
                 has_default_item: bool = False):
        super().__init__(name, label, [])
        self._default = default
        self._has_default_item = has_default_item
        self._value = ""

    def values(self) -> List[str]:
        config = _ocio_config()
        names = [cs.getName() for cs in config.getColorSpaces()]
        roles = list(config.getRoleNames())
        head = [f"default ({self._default()})"] if self._has_default_item and self._default else []
        return head + names + [r for r in roles if r not in names]

    def value(self, index: Optional[int] = None) -> str:
        if self._value:
            return self._value
        shown = self._default() if self._default else ""
        return f"default ({shown})" if self._has_default_item else shown

    def _convert(self, value: Any) -> str:
        items = self.values()
        if isinstance(value, int) and not isinstance(value, bool):
            value = items[value]
        text = str(value)
        if self._has_default_item and (text == "default" or text.startswith("default (")):
            return ""
        if text not in items:
            raise ValueError(f"{self._name}: {value!r} is not a colourspace of {_ocio_path()}")
        return text


class _ConfigPath_Knob(String_Knob):
    """``OCIOConfigPath``: the file of the config in use (read-only, follows ``OCIO_config``)."""

    def value(self, index: Optional[int] = None) -> str:
        return _ocio_path()

    def evaluate(self) -> str:
        return self.value()

    def getEvaluatedValue(self) -> str:
        return self.value()


def _role_or(role: str, fallback: str = "") -> str:
    cs = _ocio_config().getColorSpace(role)
    return cs.getName() if cs is not None else fallback


def _file_default(node: "Node") -> str:
    """A Read's or Write's default colourspace: the project's float LUT for EXR, its 8-bit LUT otherwise."""
    path = node["file"].value() if node.knob("file") is not None else ""
    knob = "floatLut" if path.lower().endswith((".exr", ".hdr")) or not path else "int8Lut"
    return _ROOT[knob].value()


_BUILTIN_LAYERS = {"rgba": ["red", "green", "blue", "alpha"], "rgb": ["red", "green", "blue"], "alpha": ["alpha"],
                   "depth": ["Z"], "forward": ["u", "v"], "backward": ["u", "v"], "motion": ["u", "v", "_u", "_v"],
                   "mask": ["a"], "rotopaint_mask": ["a"]}
_LAYERS = {k: list(v) for k, v in _BUILTIN_LAYERS.items()}  # grows as Reads find layers (_register_channel)


class Channel_Knob(Knob):
    """A layer (or some of its channels) picker. ``value()`` is the text Nuke writes: a layer name
    ("rgba"), "none", "all", or space-separated ``layer.channel`` names ("rgba.red rgba.alpha")."""

    def __init__(self, name: str, label: Optional[str] = None, depth: int = 0):
        super().__init__(name, label)
        self._value = "none"

    def _convert(self, value: Any) -> str:
        text = " ".join(str(value or "none").split())
        for token in text.split(" "):
            layer, _, chan = token.partition(".")
            known = token in ("none", "all") or layer in _LAYERS or (chan and layer.isidentifier())
            if not known or (chan and layer in _LAYERS and chan not in _LAYERS[layer]):
                raise ValueError(f"{self._name}: unknown channel or layer {token!r}")
        return text


    def isChannelEnabled(self, name: str) -> bool:
        return self._value == "all" or name in self._value.split() or name.split(".")[0] in self._value.split()


class ChannelMask_Knob(Channel_Knob):
    pass


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, command: str = ""):
        super().__init__(name, label)
        self._value = command

    def execute(self) -> None:
        _require_main(f"{self._name}.execute")
        with _this(self._node, self):
            exec(self._value, {"nuke": sys.modules[__name__]})


class Script_Knob(PyScript_Knob):
    """A button with a built-in action (Read's reload)."""

    def __init__(self, name: str, label: Optional[str] = None, action: Optional[Callable[[], None]] = None):
        super().__init__(name, label, "")
        self._action = action

    def execute(self) -> None:
        if self._action:
            self._action()


KNOB_CLASSES = {c.__name__: c for c in (Tab_Knob, Text_Knob, String_Knob, Multiline_Eval_String_Knob, File_Knob,
                                        Boolean_Knob, Int_Knob, Double_Knob, Color_Knob, AColor_Knob,
                                        Enumeration_Knob, PyScript_Knob, Channel_Knob, ChannelMask_Knob)}


# ----- nodes --------------------------------------------------------------------------------------


class Node:
    _builtin: Dict[str, Callable[[], Knob]] = {}

    def __init__(self, cls: str, parent: Optional["Node"]):
        self._class = cls
        self._parent = parent
        self._knobs: Dict[str, Knob] = {}
        self._inputs: List[Optional[Node]] = []
        self._name = ""
        for name, make in [("name", lambda: String_Knob("name")), ("label", lambda: String_Knob("label")),
                           ("selected", lambda: Boolean_Knob("selected")), ("disable", lambda: Boolean_Knob("disable")),
                           ("tile_color", lambda: Int_Knob("tile_color"))]:
            self._attach(make())
        for make in BUILTIN_KNOBS.get(cls, ()):
            self._attach(make(self))

    def _attach(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    # names
    def name(self) -> str:
        return self._name

    def setName(self, name: str, uniquify: bool = False, updateExpressions: bool = False) -> None:
        _require_main(f"{self._name or name}.setName")
        siblings = {n.name() for n in _children(self._parent) if n is not self}
        if name in siblings:
            if not uniquify:
                raise ValueError(f"name {name!r} already in use")
            stem = re.sub(r"\d+$", "", name)
            i = 1
            while f"{stem}{i}" in siblings:
                i += 1
            name = f"{stem}{i}"
        self._name = name
        self._knobs["name"]._value = name

    def fullName(self) -> str:
        if self._parent is None or self._parent is _ROOT:
            return self._name
        return f"{self._parent.fullName()}.{self._name}"

    def Class(self) -> str:
        return self._class

    # knobs
    def knob(self, name: str) -> Optional[Knob]:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def knobs(self) -> Dict[str, Knob]:
        return dict(self._knobs)

    def addKnob(self, knob: Knob) -> None:
        _require_main(f"{self._name}.addKnob")
        if knob.name() in self._knobs:
            raise ValueError(f"{self._name}: knob {knob.name()!r} already exists")
        knob._user = True
        self._attach(knob)

    def removeKnob(self, knob: Knob) -> None:
        self._knobs.pop(knob.name(), None)

    # inputs
    def input(self, i: int) -> Optional["Node"]:
        return self._inputs[i] if i < len(self._inputs) else None

    def canSetInput(self, i: int, node: Optional["Node"]) -> bool:
        """Nuke: whether ``node`` may be connected to input ``i`` (the index exists, no loop)."""
        if not 0 <= i < self.maximumInputs():
            return False
        return node is None or not node._depends_on(self)

    def _depends_on(self, other: "Node") -> bool:
        seen, todo = set(), [self]
        while todo:
            n = todo.pop()
            if n is other:
                return True
            if id(n) in seen:
                continue
            seen.add(id(n))
            todo += [i for i in n._inputs if i is not None]
        return False

    def setInput(self, i: int, node: Optional["Node"]) -> bool:
        """Nuke: connect input ``i`` if :meth:`canSetInput`; else connect nothing and return False."""
        _require_main(f"{self._name}.setInput")
        if not self.canSetInput(i, node):
            return False
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        return True

    def connectInput(self, i: int, node: "Node") -> bool:
        return self.setInput(i, node)

    def inputs(self) -> int:
        return len(self._inputs)

    def maximumInputs(self) -> int:
        if self._class == "Group":
            return sum(1 for n in self._children if n.Class() == "Input")
        return {"Read": 0, "Switch": 2, "Input": 0, "Root": 0}.get(self._class, 1)

    def minimumInputs(self) -> int:
        return 0

    def channels(self) -> List[str]:
        """The channels this node outputs (full Nuke names, rgba first), at the current frame within its range."""
        first, last = self._range()
        return list(_render(self, min(max(int(_ROOT["frame"].value()), first), last))[1])

    def dependencies(self) -> List["Node"]:
        return [i for i in self._inputs if i is not None]

    def writeKnobs(self, flags: int = 0) -> str:
        """The knobs as TCL-like text (here: ``name value`` lines of non-default knobs)."""
        lines = []
        for name, knob in sorted(self._knobs.items()):
            if name in ("selected", "name"):
                continue
            state = knob._state()
            shown = {k: state[k] for k in ("value", "curves") if k in state}
            lines.append(f"{name} {json.dumps(shown, default=str)}")
        return "\n".join(lines)

    # frame range
    def firstFrame(self) -> int:
        return self._range()[0]

    def lastFrame(self) -> int:
        return self._range()[1]

    def _range(self):
        c = self._class
        if c == "Read":
            return int(self["first"].value()), int(self["last"].value())
        if c == "Group":
            out = next((n for n in self._children if n.Class() == "Output"), None)
            return out._range() if out is not None else _root_range()
        if c == "Input":
            up = self._parent.input(int(self["number"].value()))
            return up._range() if up is not None else _root_range()
        if c == "Switch":
            up = self.input(int(self["which"].value()))
            return up._range() if up is not None else _root_range()
        up = self.input(0)
        return up._range() if up is not None else _root_range()

    def __repr__(self) -> str:
        return f"<stand-in {self._class} {self.fullName()}>"


class GroupNode(Node):
    def __init__(self, cls: str, parent: Optional[Node]):
        self._children: List[Node] = []
        super().__init__(cls, parent)

    def begin(self) -> "GroupNode":
        _require_main(f"{self._name}.begin")
        _context.append(self)
        return self

    def end(self) -> None:
        _require_main(f"{self._name}.end")
        if _context[-1] is not self:
            raise RuntimeError(f"end() of {self.fullName()} without its begin()")
        _context.pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.end()

    def nodes(self) -> List[Node]:
        return list(self._children)

    def name(self) -> str:
        if self is _ROOT:
            return self["name"].value() or "Root"
        return super().name()


def _channels_knob(name: str, value: str) -> "ChannelMask_Knob":
    knob = ChannelMask_Knob(name)
    knob._value = value
    return knob


def _reload_read(node: Node) -> None:
    node._cache = {}


BUILTIN_KNOBS: Dict[str, tuple] = {
    "Root": (lambda n: Int_Knob("first_frame"), lambda n: Int_Knob("last_frame"), lambda n: Double_Knob("fps"),
             lambda n: Int_Knob("frame"),
             lambda n: Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"]),
             lambda n: Enumeration_Knob("OCIO_config", "OpenColorIO config", list(_STOCK_CONFIGS) + ["custom"]),
             lambda n: File_Knob("customOCIOConfigPath", "custom OCIO config"),
             lambda n: _ConfigPath_Knob("OCIOConfigPath"),
             lambda n: _Colorspace_Knob("workingSpaceLUT", "working space", lambda: _role_or("scene_linear")),
             lambda n: _Colorspace_Knob("int8Lut", "8-bit files", lambda: _role_or("color_picking", _role_or("scene_linear"))),
             lambda n: _Colorspace_Knob("floatLut", "float files", lambda: _role_or("scene_linear"))),
    "Read": (lambda n: File_Knob("file"), lambda n: Int_Knob("first"), lambda n: Int_Knob("last"),
             lambda n: Int_Knob("origfirst"), lambda n: Int_Knob("origlast"), lambda n: Boolean_Knob("raw"),
             lambda n: _Colorspace_Knob("colorspace", "input transform", lambda: _file_default(n), True),
             lambda n: Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"]),
             lambda n: Script_Knob("reload", "Reload", lambda: _reload_read(n))),
    "Write": (lambda n: File_Knob("file"), lambda n: Enumeration_Knob("file_type", "file type", ["", "exr", "png", "dpx", "tiff"]),
              lambda n: Enumeration_Knob("datatype", "datatype", ["16 bit half", "32 bit float"]),
              lambda n: Enumeration_Knob("compression", "compression", ["none", "Zip (1 scanline)", "Zip (16 scanlines)",
                                                                        "PIZ Wavelet (32 scanlines)", "DWAA"]),
              lambda n: _channels_knob("channels", "rgb"),
              lambda n: Enumeration_Knob("metadata", "metadata", ["default metadata", "all metadata", "no metadata"]),
              lambda n: Boolean_Knob("raw"),
              lambda n: _Colorspace_Knob("colorspace", "output transform", lambda: _file_default(n), True)),
    "Switch": (lambda n: Int_Knob("which"),),
    "OCIOColorSpace": (lambda n: _Colorspace_Knob("in_colorspace", "in", lambda: _role_or("scene_linear")),
                       lambda n: _Colorspace_Knob("out_colorspace", "out", lambda: _role_or("scene_linear"))),
    "Input": (lambda n: Int_Knob("number"),),
}


_ROOT: GroupNode
_context: List[GroupNode] = []
_callbacks: Dict[str, List[tuple]] = {"knobChanged": [], "updateUI": []}
_this_stack: List[tuple] = []
_menus: Dict[str, "Menu"] = {}
_main_queue: "queue.Queue[tuple]" = queue.Queue()
_messages: List[str] = []
_lock = threading.RLock()


def _root_range():
    return int(_ROOT["first_frame"].value()), int(_ROOT["last_frame"].value())


def _children(parent: Optional[Node]) -> List[Node]:
    return list(parent._children) if isinstance(parent, GroupNode) else []


def _current() -> GroupNode:
    return _context[-1]


def _create(cls: str, knobs: Optional[Dict[str, Any]] = None, inputs: Optional[List[Node]] = None) -> Node:
    _require_main(f"creating a {cls}")
    parent = _current()
    node = GroupNode(cls, parent) if cls == "Group" else Node(cls, parent)
    if cls == "Input":
        node["number"]._value = sum(1 for n in parent._children if n.Class() == "Input")
    parent._children.append(node)
    node.setName(f"{cls}1", uniquify=True)
    for key, value in (knobs or {}).items():
        if key == "name":
            node.setName(str(value), uniquify=True)
        else:
            node[key].setValue(value)
    for i, n in enumerate(inputs or []):
        node.setInput(i, n)
    return node


class _NodeFactory:
    def __getattr__(self, cls: str) -> Callable[..., Node]:
        if cls.startswith("_"):
            raise AttributeError(cls)

        def make(**knobs: Any) -> Node:
            inputs = knobs.pop("inputs", None)
            return _create(cls, knobs, inputs)

        return make


nodes = _NodeFactory()


def createNode(node: str, knobs: str = "", inpanel: bool = True) -> Node:
    """Like Nuke: connects the selected node to the new node's input 0 when it has one, and selects it."""
    selected = [n for n in _current()._children if n["selected"].value()]
    new = _create(node)
    if selected and new.maximumInputs() > 0:
        new.setInput(0, selected[-1])
    for n in selected:
        n["selected"]._value = False
    new["selected"]._value = True
    return new


def selectedNodes(filter: Optional[str] = None) -> List[Node]:
    return [n for n in _current()._children if n["selected"].value() and (filter is None or n.Class() == filter)]


def selectedNode() -> Node:
    chosen = selectedNodes()
    if not chosen:
        raise ValueError("no node selected")
    return chosen[-1]


def toNode(name: str) -> Optional[Node]:
    parts = name.split(".")
    group: Optional[Node] = _current() if len(parts) == 1 else _ROOT
    if parts[0] == "root" and len(parts) > 1:
        parts = parts[1:]
    for part in parts:
        group = next((n for n in _children(group) if n.name() == part), None)
        if group is None:
            return None
    return group


def allNodes(filter: Optional[str] = None, group: Optional[Node] = None) -> List[Node]:
    return [n for n in _children(group or _current()) if filter is None or n.Class() == filter]


def delete(node: Node) -> None:
    _require_main(f"deleting {node.name()}")
    parent = node._parent
    parent._children.remove(node)
    for other in _children(parent):
        other._inputs = [None if i is node else i for i in other._inputs]


def root() -> GroupNode:
    return _ROOT


def thisNode() -> Node:
    if not _this_stack:
        raise RuntimeError("thisNode() outside a callback")
    return _this_stack[-1][0]


def thisKnob() -> Optional[Knob]:
    return _this_stack[-1][1] if _this_stack else None


class _this:
    def __init__(self, node: Optional[Node], knob: Optional[Knob]):
        self.item = (node, knob)

    def __enter__(self):
        _this_stack.append(self.item)

    def __exit__(self, *exc):
        _this_stack.pop()


def frame(f: Optional[int] = None) -> int:
    if f is not None:
        _ROOT["frame"].setValue(f)
    return int(_ROOT["frame"].value())


def message(text: str) -> None:
    _messages.append(str(text))


def tprint(*args: Any, **kw: Any) -> None:
    print(*args, **kw)


# ----- callbacks ----------------------------------------------------------------------------------


def addKnobChanged(call: Callable, args=(), kwargs=None, nodeClass: str = "*") -> None:
    _callbacks["knobChanged"].append((call, tuple(args), dict(kwargs or {}), nodeClass))


def _fire_knob_changed(node: Node, knob: Knob) -> None:
    for call, args, kwargs, node_class in list(_callbacks["knobChanged"]):
        if node_class in ("*", node.Class()):
            with _this(node, knob):
                call(*args, **kwargs)


def addUpdateUI(call: Callable, args=(), kwargs=None, nodeClass: str = "*") -> None:
    _callbacks["updateUI"].append((call, tuple(args), dict(kwargs or {}), nodeClass))


def executeInMainThread(call: Callable, args=(), kwargs=None) -> None:
    if not isinstance(args, tuple):
        args = (args,)
    _main_queue.put((call, tuple(args), dict(kwargs or {}), None))


def executeInMainThreadWithResult(call: Callable, args=(), kwargs=None) -> Any:
    """Run ``call`` on the main thread and wait for its result (None, traceback printed, if it raised)."""
    if threading.current_thread() is _MAIN_THREAD:
        raise RuntimeError("executeInMainThreadWithResult called from the main thread: it would wait forever")
    if not isinstance(args, tuple):
        args = (args,)
    box: Dict[str, Any] = {"event": threading.Event()}
    _main_queue.put((call, tuple(args), dict(kwargs or {}), box))
    box["event"].wait()
    return box.get("result")


def pluginAddPath(path: str, addToSysPath: bool = True) -> None:
    if addToSysPath and path not in sys.path:
        sys.path.insert(0, path)
    init = os.path.join(path, "init.py")
    if os.path.isfile(init):
        _exec_file(init)


def _exec_file(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, {"__file__": path, "__name__": "__main__", "nuke": sys.modules[__name__]})


# ----- menus --------------------------------------------------------------------------------------


class MenuItem:
    def __init__(self, name: str, script: str):
        self._name, self._script = name, script

    def name(self) -> str:
        return self._name

    def script(self) -> str:
        return self._script

    def invoke(self) -> None:
        exec(self._script, {"nuke": sys.modules[__name__]})


class Menu:
    def __init__(self, name: str):
        self._name = name
        self._items: List[Any] = []

    def name(self) -> str:
        return self._name

    def items(self) -> List[Any]:
        return list(self._items)

    def addMenu(self, name: str, icon: str = "") -> "Menu":
        head, _, rest = name.partition("/")
        sub = next((i for i in self._items if isinstance(i, Menu) and i.name() == head), None)
        if sub is None:
            sub = Menu(head)
            self._items.append(sub)
        return sub.addMenu(rest) if rest else sub

    def addCommand(self, name: str, command: str = "", shortcut: str = "", icon: str = "", **kw: Any) -> MenuItem:
        head, _, leaf = name.rpartition("/")
        menu = self.addMenu(head) if head else self
        item = MenuItem(leaf, command)
        menu._items = [i for i in menu._items if i.name() != leaf] + [item]
        return item

    def findItem(self, name: str):
        item: Any = self
        for part in name.split("/"):
            item = next((i for i in item.items() if i.name() == part), None) if isinstance(item, Menu) else None
            if item is None:
                return None
        return item

    def clearMenu(self) -> None:
        self._items = []


def menu(name: str) -> Menu:
    return _menus.setdefault(name, Menu(name))


# ----- progress -----------------------------------------------------------------------------------


class ProgressTask:
    """Nuke's progress dialog. Stand-in controls: ``_cancel_at`` reports cancelled once progress reaches
    it; ``_cancel_when(task)`` (a callable) reports cancelled when it returns True."""

    _cancel_at: Optional[int] = None
    _cancel_when: Optional[Callable[["ProgressTask"], bool]] = None
    _instances: List["ProgressTask"] = []

    def __init__(self, name: str):
        self.name = name
        self.progress = 0
        self.messages: List[str] = []
        ProgressTask._instances.append(self)

    def setProgress(self, value: int) -> None:
        self.progress = int(value)

    def setMessage(self, text: str) -> None:
        self.messages.append(str(text))

    def isCancelled(self) -> bool:
        if ProgressTask._cancel_when is not None and ProgressTask._cancel_when(self):
            return True
        return self._cancel_at is not None and self.progress >= self._cancel_at


# ----- pixels -------------------------------------------------------------------------------------


def _frame_path(pattern: str, f: int) -> str:
    m = _PAD.search(os.path.basename(pattern))
    if not m:
        return pattern
    width = int(m.group(2) or 1) if m.group(1).startswith("%") else len(m.group(1))
    folder, base = os.path.split(pattern)
    return os.path.join(folder, base[: m.start()] + f"{f:0{width}d}" + base[m.end():])


def _render(node: Node, f: int):
    """(pixels HxWxC float32, channel names) of ``node`` at frame ``f``."""
    c = node.Class()
    if c == "Read":
        first, last = int(node["first"].value()), int(node["last"].value())
        path = _frame_path(node["file"].value(), f)
        if not first <= f <= last or not os.path.isfile(path):
            if node["on_error"].value() == "black":
                ref = _render_size(node)
                return np.zeros(ref[0], np.float32), ref[1]
            raise RuntimeError(f"{node.fullName()}: Read error: {path}: No such file or directory")
        pixels, names = _read_exr(node, path)
        if not node["raw"].value():  # the input transform: the file's colourspace -> the working space
            pixels = _convert_rgb(pixels, names, node["colorspace"].value(), _ROOT["workingSpaceLUT"].value())
        return pixels, names
    if c == "Group":
        out = next((n for n in node._children if n.Class() == "Output"), None)
        if out is None:
            raise RuntimeError(f"{node.fullName()}: group has no Output")
        return _render(out, f)
    if c == "Input":
        up = node._parent.input(int(node["number"].value()))
        if up is None:
            raise RuntimeError(f"{node._parent.fullName()}: input {node.name()} is not connected")
        return _render(up, f)
    if c == "Switch":
        return _render(node.input(int(node["which"].value())), f)
    if c == "OCIOColorSpace":
        if node.input(0) is None:
            raise RuntimeError(f"{node.fullName()}: nothing connected")
        pixels, names = _render(node.input(0), f)
        return _convert_rgb(pixels, names, node["in_colorspace"].value(), node["out_colorspace"].value()), names
    if c in ("Output", "Write"):
        up = node.input(0)
        if up is None:
            raise RuntimeError(f"{node.fullName()}: nothing connected")
        return _render(up, f)
    raise RuntimeError(f"the nuke stand-in cannot render {c} nodes")


def _render_size(read: Node):
    for f in range(int(read["first"].value()), int(read["last"].value()) + 1):
        path = _frame_path(read["file"].value(), f)
        if os.path.isfile(path):
            pixels, names = _read_exr(read, path)
            return pixels.shape, names
    raise RuntimeError(f"{read.fullName()}: Read error: no frames on disk")


# ----- reading EXR files as Nuke's exrReader does -------------------------------------------------
# Sources (Foundry's NDK examples, the reader Nuke ships): ExrChannelNameToNuke.cpp
# https://learn.foundry.com/nuke/developers/17.1/ndkreference/examples/ExrChannelNameToNuke.cpp (the same in
# 11.3 and 16.0) and exrReader.cpp https://learn.foundry.com/nuke/developers/14.0/ndkreference/examples/exrReader.cpp
# (the constructor's loop over the parts). Summary with more sources: /work/shared/notes/nuke.md, "Multi-part EXR".


def _exr_name_to_nuke(name: str, views: List[str]):
    """(layer, channel, view) of an EXR channel name, as ExrChannelNameToNuke::setFromPrefixedExrName: split
    at the first two periods (the rest stays one piece), digits stripped from each piece's front, empty pieces
    dropped, other non-alphanumerics made '_'; a piece naming a view is the view, the others joined with '_'
    are the layer, the last is the channel; R/r/Red/RED → red (so for G, B, A); layer "Ci" is the main one."""
    pieces = name.split(".", 2)
    clean = []
    for piece in pieces:
        piece = piece.lstrip("0123456789")
        if piece:
            clean.append(re.sub(r"[^0-9A-Za-z]", "_", piece))
    layer, view, chan = [], "", ""
    if len(clean) > 1:
        for piece in clean[:-1]:
            if piece in views:
                view = piece
            else:
                layer.append(piece)
        chan = clean[-1]
    elif clean:
        chan = clean[0]
    layer_name = "_".join(layer)
    if layer_name == "Ci":
        layer_name = ""
    chan = chan or "unnamed"
    for full, spellings in (("red", "R r Red RED"), ("green", "G g Green GREEN"), ("blue", "B b Blue BLUE"),
                            ("alpha", "A a Alpha ALPHA")):
        if chan in spellings.split():
            chan = full
    return layer_name, chan, view


def _nuke_channel(layer: str, chan: str) -> str:
    """The full Nuke channel a (layer, channel) lands in. Without a layer Nuke's channel lookup puts red/green/
    blue/alpha in rgba and Z in depth (Nuke's built-in channels); other layerless names go to the "other"
    layer (the stand-in's reading of Nuke's channel table; the adapter never relies on it)."""
    if layer:
        return f"{layer}.{chan}"
    if chan in ("red", "green", "blue", "alpha"):
        return f"rgba.{chan}"
    if chan == "Z":
        return "depth.Z"
    return f"other.{chan}"


def _register_channel(full: str) -> None:
    """Nuke's channel table is global: a layer a Read finds exists in the whole script from then on (channel
    knobs accept it)."""
    layer, _, chan = full.partition(".")
    chans = _LAYERS.setdefault(layer, [])
    if chan not in chans:
        chans.append(chan)


def _read_exr(node: "Node", path: str):
    """(pixels over the format, Nuke channel names) of one EXR file, every part merged as Nuke's exrReader
    does: a multi-part file's part names become the layer prefix unless any channel of any part already has a
    layer ('.' in its name: then the part names are ignored); a part's view, when the file has views, keeps
    only the first (hero) view's channels; where two EXR channels land in one Nuke channel the first part's
    wins. Every part must have the same data window, display window and pixel aspect, or the Read errors
    ("Multipart data window size must be consistent", exrReader's own words: Nuke has one bbox per Read). The
    format is the display window; pixels outside the data window are black."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise RuntimeError(f"{node.fullName()}: Read error: {oiio.geterror()}")
    try:
        specs = []
        while inp.seek_subimage(len(specs), 0):
            specs.append(inp.spec().copy())
        multipart = len(specs) > 1
        first = specs[0]
        window = lambda sp: (sp.x, sp.y, sp.width, sp.height)  # noqa: E731
        display = lambda sp: (sp.full_x, sp.full_y, sp.full_width, sp.full_height)  # noqa: E731
        for sp in specs[1:]:
            if window(sp) != window(first):
                raise RuntimeError(f"{node.fullName()}: Read error: {path}: Multipart data window size must be "
                                   "consistent")
            if display(sp) != display(first):
                raise RuntimeError(f"{node.fullName()}: Read error: {path}: Multipart display window size must "
                                   "be consistent")
            if sp.get_float_attribute("PixelAspectRatio", 1.0) != first.get_float_attribute("PixelAspectRatio", 1.0):
                raise RuntimeError(f"{node.fullName()}: Read error: {path}: Multipart pixel aspect ratio must be "
                                   "consistent")
        views: List[str] = []
        for sp in specs:
            multi = sp.getattribute("multiView")
            for v in (multi or ()):
                if v and v not in views:
                    views.append(v)
            if multipart and sp.getattribute("view") and sp.getattribute("view") not in views:
                views.append(sp.getattribute("view"))
        hero = views[0] if views else ""
        ignore_part_names = any("." in n for sp in specs for n in sp.channelnames)
        fw, fh = first.full_width, first.full_height
        y0, x0 = first.y - first.full_y, first.x - first.full_x
        ys = slice(max(y0, 0), min(y0 + first.height, fh))
        xs = slice(max(x0, 0), min(x0 + first.width, fw))
        planes: Dict[str, "np.ndarray"] = {}
        for index, sp in enumerate(specs):
            prefix = ""
            if multipart:
                if not ignore_part_names and sp.getattribute("name"):
                    prefix = sp.getattribute("name") + "."
                part_view = sp.getattribute("view")
                if part_view and not prefix.endswith(f".{part_view}."):
                    prefix += part_view + "."
            data = np.asarray(inp.read_image(index, 0, 0, sp.nchannels, "float"), np.float32)
            data = data.reshape(sp.height, sp.width, sp.nchannels)
            for i, exr_name in enumerate(sp.channelnames):
                layer, chan, view = _exr_name_to_nuke(prefix + exr_name, views)
                if (view or hero) != hero:
                    continue  # another view's channel: the stand-in renders the hero view only
                full = _nuke_channel(layer, chan)
                if full in planes:
                    continue
                plane = np.zeros((fh, fw), np.float32)
                plane[ys, xs] = data[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0, i]
                planes[full] = plane
    finally:
        inp.close()
    names = _sorted_channels(list(planes))
    for full in names:
        _register_channel(full)
    pixels = np.stack([planes[n] for n in names], axis=-1) if names else np.zeros((fh, fw, 0), np.float32)
    return pixels, names


def _sorted_channels(names: List[str]) -> List[str]:
    """Nuke lists channels rgba first, then the other layers by name."""
    order = {"red": 0, "green": 1, "blue": 2, "alpha": 3}
    return sorted(names, key=lambda n: (n.split(".")[0] != "rgba", n.split(".")[0],
                                        order.get(n.split(".")[-1], 4), n))


def _exr_channel_name(full: str) -> str:
    """The name Nuke's exrWriter gives a Nuke channel: rgba's four are R, G, B, A; any other channel keeps its
    full Nuke name (diffuse.red, depth.Z). exrWriter.cpp, https://learn.foundry.com/nuke/developers/120/
    ndkreference/examples/exrWriter.cpp (the channel loop: Chan_Red → "R" ..., default channel_name(z))."""
    return {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}.get(full, full)


def execute(node: Any, start: int, end: Optional[int] = None, incr: int = 1, views=None, continueOnError=False):
    """Render a Write over start..end (like Nuke, anything else "cannot be executed")."""
    import OpenImageIO as oiio

    _require_main("nuke.execute")
    node = toNode(node) if isinstance(node, str) else node
    if node is None or node.Class() != "Write":
        raise RuntimeError(f"{getattr(node, 'name', lambda: node)()} cannot be executed")
    end = start if end is None else end
    pattern = node["file"].value()
    for f in range(int(start), int(end) + 1, int(incr)):
        pixels, names = _render(node, f)
        wanted = node["channels"].value()
        if wanted != "all":  # Nuke channel names: a layer ("rgba", "diffuse") or its channels ("rgba.red")
            keep_names = set()
            for token in wanted.split():
                layer, _, chan = token.partition(".")
                if layer in ("rgb", "alpha"):
                    layer = "rgba"
                for c in ([chan] if chan else _LAYERS.get(token, [])):
                    keep_names.add(f"{layer}.{c}")
            keep = [i for i, n in enumerate(names) if n in keep_names]
            pixels, names = pixels[:, :, keep], [names[i] for i in keep]
        if not node["raw"].value():  # the output transform: the working space -> the file's colourspace
            pixels = _convert_rgb(pixels, names, _ROOT["workingSpaceLUT"].value(), node["colorspace"].value())
        path = _frame_path(pattern, f)
        if not os.path.isdir(os.path.dirname(path)):
            raise RuntimeError(f"{node.name()}: Can't write {path}: No such file or directory")
        spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2],
                              "float" if node["datatype"].value() == "32 bit float" else "half")
        spec.channelnames = tuple(_exr_channel_name(n) for n in names)
        spec.attribute("compression", {"none": "none", "Zip (1 scanline)": "zips", "Zip (16 scanlines)": "zip",
                                       "PIZ Wavelet (32 scanlines)": "piz", "DWAA": "dwaa"}[node["compression"].value()])
        out = oiio.ImageOutput.create(path)
        if not (out.open(path, spec) and out.write_image(np.ascontiguousarray(pixels))):
            raise RuntimeError(f"{node.name()}: {out.geterror()}")
        out.close()


# ----- scripts ------------------------------------------------------------------------------------


def _dump(node: Node) -> Dict[str, Any]:
    data: Dict[str, Any] = {"class": node.Class(), "name": node.name(),
                            "inputs": [None if i is None else i.name() for i in node._inputs], "knobs": {}}
    for name, knob in node._knobs.items():
        if name == "name":
            continue
        entry = {"type": type(knob).__name__, "label": knob.label(), "flags": knob._flags, "tooltip": knob._tooltip,
                 "user": knob._user, **knob._state()}
        data["knobs"][name] = entry
    if isinstance(node, GroupNode) and node is not _ROOT:
        data["children"] = [_dump(c) for c in node._children]
    return data


def _load_into(parent: GroupNode, items: List[Dict[str, Any]]) -> None:
    made = []
    parent.begin()
    try:
        for item in items:
            node = _create(item["class"])
            node.setName(item["name"])
            for name, entry in item["knobs"].items():
                knob = node.knob(name)
                if knob is None and entry["user"]:
                    cls = KNOB_CLASSES[entry["type"]]
                    knob = cls(name, entry["label"], *([entry.get("items", [])] if cls is Enumeration_Knob else []))
                    node.addKnob(knob)
                if knob is not None:
                    knob._restore(entry)
                    knob._flags, knob._tooltip = entry["flags"], entry["tooltip"]
            if "children" in item:
                _load_into(node, item["children"])
            made.append((node, item["inputs"]))
        for node, inputs in made:
            for i, name in enumerate(inputs):
                node.setInput(i, None if name is None else toNode(name))
    finally:
        parent.end()


def scriptSaveAs(filename: str, overwrite: int = -1) -> None:
    _ROOT["name"]._value = filename
    with open(filename, "w", encoding="utf-8") as f:
        json.dump({"standin_script": 1, "root": _dump(_ROOT)["knobs"], "nodes": [_dump(n) for n in _ROOT._children]},
                  f, indent=1)


def scriptSave(filename: str = "") -> bool:
    scriptSaveAs(filename or _ROOT.name())
    return True


def scriptClear() -> None:
    _reset_graph()


def scriptOpen(filename: str) -> None:
    with open(filename, encoding="utf-8") as f:
        data = json.load(f)
    _reset_graph()
    for name, entry in data["root"].items():
        if _ROOT.knob(name) is not None:
            _ROOT.knob(name)._restore(entry)
    _ROOT["name"]._value = filename
    _load_into(_ROOT, data["nodes"])


# ----- stand-in controls (not Nuke API) -----------------------------------------------------------


def _reset_graph() -> None:
    global _ROOT
    _ROOT = GroupNode("Root", None)
    _ROOT["name"]._value = ""
    _ROOT["first_frame"]._values = [1]
    _ROOT["last_frame"]._values = [100]
    _ROOT["fps"]._values = [24.0]
    _ROOT["frame"]._values = [1]
    _context[:] = [_ROOT]


def _reset(gui: bool = False) -> None:
    """A fresh session: empty script, no callbacks, menus or queued calls."""
    _reset_graph()
    _LAYERS.clear()
    _LAYERS.update({k: list(v) for k, v in _BUILTIN_LAYERS.items()})
    for calls in _callbacks.values():
        calls.clear()
    _menus.clear()
    _messages.clear()
    _main_stalls.clear()
    ProgressTask._cancel_at = None
    ProgressTask._cancel_when = None
    ProgressTask._instances.clear()
    while not _main_queue.empty():
        _main_queue.get_nowait()
    env["gui"] = gui


def _startup(plugin_paths: List[str], gui: bool) -> None:
    """What Nuke does at start: each NUKE_PATH folder on sys.path, every init.py, then (GUI) every menu.py."""
    _reset(gui)
    for path in plugin_paths:
        if path not in sys.path:
            sys.path.insert(0, path)
    for path in plugin_paths:
        if os.path.isfile(os.path.join(path, "init.py")):
            _exec_file(os.path.join(path, "init.py"))
    if gui:
        for path in plugin_paths:
            if os.path.isfile(os.path.join(path, "menu.py")):
                _exec_file(os.path.join(path, "menu.py"))


_main_stalls: List[tuple] = []  # (seconds, what) of every call the stand-in's event loop ran


def _timed_main(what: str, call: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run ``call`` as the GUI main thread would, recording how long it held the thread."""
    t0 = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        _main_stalls.append((time.perf_counter() - t0, what))


def _update_ui() -> None:
    """What Nuke does when it refreshes the UI: every updateUI callback for every node of its class."""
    for call, args, kwargs, node_class in list(_callbacks["updateUI"]):
        for node in _all_nodes_recursive(_ROOT):
            if node_class in ("*", node.Class()):
                with _this(node, None):
                    call(*args, **kwargs)


def _all_nodes_recursive(group: GroupNode) -> List[Node]:
    out = []
    for n in group._children:
        out.append(n)
    return out


def _run_main_thread(until: Callable[[], bool], timeout: float = 60.0) -> None:
    """The GUI event loop: run calls queued with executeInMainThread(WithResult) until ``until()`` or
    timeout, timing each (``_main_stalls``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            call, args, kwargs, box = _main_queue.get(timeout=0.01)
        except queue.Empty:
            call = None
        if call is not None:
            t0 = time.perf_counter()
            try:
                result = call(*args, **kwargs)
            except Exception:  # noqa: BLE001 - as Nuke: the traceback is printed, the caller gets None
                traceback.print_exc()
                result = None
            finally:
                what = getattr(call, "__name__", str(call))
                inner = args[0] if args and callable(args[0]) else None
                _main_stalls.append((time.perf_counter() - t0, what + (f"({inner.__name__})" if inner else "")))
            if box is not None:
                box["result"] = result
                box["event"].set()
        if until():
            return
    raise TimeoutError("stand-in main loop: condition not reached")


_reset_graph()
