"""Hand out the records of a big JSON document one by one, without loading the document.

A Shodan search response ``{"matches": […]}``, a Censys search response
``{"result": {"hits": […]}}`` or a Censys export ``[host, …]`` can be far larger than memory
should hold. :class:`ArrayStreamer` is fed the document line by line, finds the one array that
holds the records, and returns each element's bytes (and the line it starts on) as soon as the
element is complete; ``orjson`` then parses each element alone. Written here because the
incremental JSON parsers (``ijson``) are not among the project's dependencies, and only this
narrow job is needed: track strings, nesting and keys down to depth three.

Only the structure around the elements is tracked, not validated; each element is validated
when parsed. A document without such an array (a Shodan host lookup, a Censys host lookup) is
kept in :attr:`ArrayStreamer.buffered` so the caller can parse it whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["STREAMED_PATHS", "ArrayStreamer"]

STREAMED_PATHS: frozenset[tuple[str, ...]] = frozenset({(), ("matches",), ("result", "hits")})
"""Keys leading from the top-level object to the record array; ``()`` is a top-level array."""

_SPECIAL = re.compile(rb'[\[\]{}",:]')
_IN_STRING = re.compile(rb'["\\]')


@dataclass(slots=True)
class ArrayStreamer:
    """Incremental scanner; see the module docstring."""

    stack: list[tuple[bytes, str | None]] = field(default_factory=list)
    """Open containers: ``(b"{" or b"[", key it sits under)``."""
    streaming: bool = False
    finished: bool = False
    buffered: list[bytes] = field(default_factory=list)
    """Every line fed before the record array was found."""
    _array_depth: int = 0
    _in_string: bool = False
    _string_start: int = 0
    _capture: bool = False
    _last_string: bytes = b""
    _pending_key: str | None = None
    _parts: list[bytes] = field(default_factory=list)
    _element_line: int | None = None

    @property
    def in_array(self) -> bool:
        """True while an element may still be incomplete (the document ended too early)."""
        return self.streaming and not self.finished

    def feed(self, line: bytes, number: int) -> list[tuple[int, bytes]]:
        """Scans one line; returns the elements completed in it as ``(start line, bytes)``."""
        if not self.streaming:
            self.buffered.append(line)

        done: list[tuple[int, bytes]] = []
        element_start = 0
        position = 0
        while True:
            if self._in_string:
                found = _IN_STRING.search(line, position)
                if found is None:
                    break
                if found.group() == b"\\":
                    position = found.end() + 1
                    continue
                self._in_string = False
                if self._capture:
                    self._last_string = line[self._string_start : found.start()]
                position = found.end()
                continue

            found = _SPECIAL.search(line, position)
            if found is None:
                break
            char, at, position = found.group(), found.start(), found.end()

            if char == b'"':
                self._in_string = True
                self._string_start = position
                self._capture = 0 < len(self.stack) <= 2 and self.stack[-1][0] == b"{"
            elif char == b":":
                self._pending_key = self._last_string.decode("utf-8", "replace")
            elif char in (b"[", b"{"):
                in_object = bool(self.stack) and self.stack[-1][0] == b"{"
                self.stack.append((char, self._pending_key if in_object else None))
                self._pending_key = None
                if char == b"[" and not self.streaming and self._is_record_array():
                    self.streaming = True
                    self.buffered.clear()
                    self._array_depth = len(self.stack)
                    element_start = position
            elif char in (b"]", b"}"):
                if self.in_array and len(self.stack) == self._array_depth:
                    self._finish_element(line[element_start:at], number, done)
                    self.finished = True
                if self.stack:
                    self.stack.pop()
            elif char == b"," and self.in_array and len(self.stack) == self._array_depth:
                self._finish_element(line[element_start:at], number, done)
                element_start = position

        if self.in_array:
            self._keep(line[element_start:], number)
        return done

    def _is_record_array(self) -> bool:
        if len(self.stack) == 1:
            return True  # a top-level array
        if any(kind != b"{" for kind, _ in self.stack[:-1]):
            return False
        path = tuple(key or "" for _, key in self.stack[1:])
        return path in STREAMED_PATHS

    def _keep(self, piece: bytes, number: int) -> None:
        if piece:
            self._parts.append(piece)
            if self._element_line is None and piece.strip():
                self._element_line = number

    def _finish_element(self, tail: bytes, number: int, done: list[tuple[int, bytes]]) -> None:
        self._keep(tail, number)
        element = b"".join(self._parts)
        if element.strip():
            done.append((self._element_line or number, element))
        self._parts = []
        self._element_line = None
