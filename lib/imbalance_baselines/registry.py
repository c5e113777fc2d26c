"""Name -> component registries (the timm pattern).

A component (loss, sampler, model, ...) is a function or class registered once under a short name;
configuration refers to it by that name and never needs an if-chain of names. Adding a method is one
definition plus one ``@REGISTRY.register("name")`` line.

Example::

    LOSSES = Registry("loss")

    @LOSSES.register("ce")
    class CrossEntropy(nn.Module): ...

    loss = LOSSES.build("ce", class_counts=[5000, 50])
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class UnknownNameError(KeyError):
    """A name that is not in a registry; the message lists the allowed names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry:
    """A named mapping from short names to factories (classes or functions)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a factory under ``name`` (names are unique per registry)."""

        def add(factory: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            return factory

        return add

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``; an unknown name raises with the allowed ones."""
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint}; allowed: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
