"""Validation of parameter files: every name, type and range checked before any work starts.

A parameter file (``params/<profile>/<notebook>.yaml``) sets some of a notebook's parameters. Papermill
only warns about a misspelt parameter; here an unknown key, a wrong type or a value out of range is
one ``ConfigError`` naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from .train.spec import TrainConfig


class ConfigError(ValueError):
    """A parameter file or parameter that is not allowed; the message names where and why."""


def _type_name(value: Any) -> str:
    return type(value).__name__


def _same_kind(value: Any, default: Any) -> bool:
    """Whether ``value`` may replace ``default`` (ints pass for floats; None defaults take anything)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_keys(where: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Unknown keys and wrong types in ``given`` against the keys/types of ``defaults``."""
    for key, value in given.items():
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(defaults))}")
        if not _same_kind(value, defaults[key]):
            raise ConfigError(f"{where}: {key}={value!r} has type {_type_name(value)}; "
                              f"allowed: {_type_name(defaults[key])}")


def train_config(where: str, overrides: Mapping[str, Any], num_train: int | None = None) -> TrainConfig:
    """A validated ``TrainConfig`` from a mapping of overrides (e.g. a params file's ``train``)."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: train={overrides!r}; allowed: a mapping of training settings")
    defaults = {f.name: getattr(TrainConfig(), f.name) for f in fields(TrainConfig)}
    check_keys(f"{where}: train", overrides, defaults)
    config = TrainConfig(**overrides)
    try:
        config.validate(num_train if num_train is not None else 10**9)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    return config


Check = Callable[[Any], bool]


def check_ranges(where: str, values: Mapping[str, Any], ranges: Mapping[str, tuple[Check, str]]) -> None:
    """Each ``ranges[key] = (predicate, allowed description)`` must hold for ``values[key]``."""
    for key, (ok, allowed) in ranges.items():
        if key in values and not ok(values[key]):
            raise ConfigError(f"{where}: {key}={values[key]!r} is out of range; allowed: {allowed}")


def read_params(path: str | Path) -> dict[str, Any]:
    """A parameter file as a dict (an empty file is an empty dict)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error.__class__.__name__}: "
                          f"{str(error).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of parameter names to values")
    return loaded
