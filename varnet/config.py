"""Typed configuration from TOML.

Every varnet configuration is a tree of frozen dataclasses. :func:`from_mapping` turns the
dictionary read from a TOML file into that tree, checking types and unknown keys, and every
error names the dotted key that is wrong (``ocean.nx: expected an integer, got 'abc'``), never
a traceback from deep inside. Range checks live in each dataclass's ``validate`` method, which
raises :class:`ConfigError` through :func:`require`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from varnet.errors import EXIT_CONFIG, VarnetError

T = TypeVar("T")


class ConfigError(VarnetError, ValueError):
    """A configuration value is missing, of the wrong type, or out of range.

    Parameters
    ----------
    key : str
        Dotted path of the offending key, for example ``"ocean.nx"``.
    message : str
        What is wrong with it, in words a person can act on.
    source : str, optional
        The file the value came from.
    """

    exit_code = EXIT_CONFIG
    what = "configuration"

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}")


def require(condition: bool, key: str, message: str) -> None:
    """Raise :class:`ConfigError` for ``key`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(key, message)


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a positive integer (not a bool).

    Raises
    ------
    ValueError
        Naming ``name`` and the value, otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             dt.date: "a date (YYYY-MM-DD)"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(key, f"got {value!r}, which fits none of the accepted types")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(key, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(key, f"expected a list of {len(args)} values, got {len(value)}")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return from_mapping(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return value
    if tp is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(key, f"expected a date (YYYY-MM-DD), got {value!r}")
    raise TypeError(f"unsupported configuration type {tp!r} for {key}")


def from_mapping(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping, checking keys and types.

    Parameters
    ----------
    cls : type
        A dataclass type whose fields are annotated with int, float, str, bool, date,
        tuples, dicts, optionals or nested dataclasses.
    data : dict
        The values, typically parsed from TOML. Missing keys take the field default.
    prefix : str
        Dotted path of ``data`` inside the whole configuration, used in error messages.

    Returns
    -------
    cls
        The validated configuration (its ``validate`` method, if any, has run).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    dotted = (prefix + ".") if prefix else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(dotted + unknown[0],
                          f"unknown key; expected one of: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], dotted + name)
        elif (field.default is dataclasses.MISSING
              and field.default_factory is dataclasses.MISSING):
            raise ConfigError(dotted + name, f"missing; {_type_name(hints[name])} is required")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as err:
            if dotted and not err.key.startswith(dotted):
                raise ConfigError(dotted + err.key, err.message) from None
            raise
    return obj


def load_toml(cls: type[T], path: str | Path) -> T:
    """Read a TOML file into the configuration dataclass ``cls``.

    Parameters
    ----------
    cls : type
        Configuration dataclass.
    path : str or Path
        The TOML file.

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, or a value is wrong; the message names the file
        and the key.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("(file)", "configuration file not found", str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("(syntax)", f"not valid TOML: {err}", str(path)) from None
    try:
        return from_mapping(cls, data)
    except ConfigError as err:
        raise ConfigError(err.key, err.message, str(path)) from None


def to_mapping(obj: Any) -> Any:
    """Turn a configuration dataclass back into plain TOML/JSON-friendly values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj


def _toml_value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value)
                                                          else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, key) for v in value) + "]"
    raise TypeError(f"{key}: cannot write {type(value).__name__} values to TOML")


def dump_toml(mapping: dict[str, Any]) -> str:
    """TOML text of a mapping of plain values and nested tables (as :func:`to_mapping` gives).

    Parameters
    ----------
    mapping : dict
        Keys are strings; values are booleans, numbers, strings, lists of those, or tables.

    Returns
    -------
    str
        TOML that :mod:`tomllib` reads back to ``mapping``.
    """
    lines: list[str] = []

    def emit(table: dict[str, Any], path: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path and scalars:
            lines.append(f"\n[{path}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml_value(value, path + '.' + key if path else key)}")
        for key, value in tables.items():
            emit(value, f"{path}.{key}" if path else key)

    emit(mapping, "")
    return "\n".join(lines).lstrip("\n") + "\n"
