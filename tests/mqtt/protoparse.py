"""A .proto (proto2) file into protobuf's runtime descriptors, for the tests: enough of
the language for the official Sparkplug B schema (messages nested in messages, oneofs,
extension ranges, comments), so a test decodes what the station sends with the
official schema itself, not with the station's own declaration of it. No protoc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["message_classes"]

_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][\w.]*|\d+|[{};=]')
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MAX_FIELD = 536_870_912  # one past the largest field number ("max")
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    name: getattr(_F, f"TYPE_{name.upper()}")
    for name in (
        "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
        "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
    )
}  # fmt: skip
_LABELS = {"optional": _F.LABEL_OPTIONAL, "repeated": _F.LABEL_REPEATED}


@dataclass
class _Field:
    name: str
    number: int
    label: int
    type: str
    oneof: int | None


@dataclass
class _Message:
    name: str
    fields: list[_Field] = field(default_factory=list)
    nested: list[_Message] = field(default_factory=list)
    oneofs: list[str] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _TOKEN.findall(_COMMENT.sub("", text))
        self.at = 0

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.at]
        self.at += 1
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, found {token!r}")
        return token

    def file(self) -> tuple[str, list[_Message]]:
        package, messages = "", []
        while self.at < len(self.tokens):
            word = self.take()
            if word == "package":
                package = self.take()
            elif word == "message":
                messages.append(self.message())
                continue
            while word != ";":  # syntax, option: skipped
                word = self.take()
        return package, messages

    def message(self) -> _Message:
        message = _Message(self.take())
        self.take("{")
        while (word := self.take()) != "}":
            if word == "message":
                message.nested.append(self.message())
            elif word == "oneof":
                message.oneofs.append(self.take())
                self.take("{")
                while self.tokens[self.at] != "}":
                    message.fields.append(self.field(_F.LABEL_OPTIONAL, len(message.oneofs) - 1))
                self.take("}")
            elif word == "extensions":
                message.extensions.append(int(self.take()))
                self.take("to")
                self.take("max")
                self.take(";")
            else:
                message.fields.append(self.field(_LABELS[word], None))
        return message

    def field(self, label: int, oneof: int | None) -> _Field:
        kind, name = self.take(), self.take()
        self.take("=")
        number = int(self.take())
        self.take(";")
        return _Field(name, number, label, kind, oneof)


def _names(messages: list[_Message], scope: str, out: set[str]) -> None:
    for message in messages:
        full = f"{scope}.{message.name}"
        out.add(full)
        _names(message.nested, full, out)


def _resolve(kind: str, scope: str, known: set[str]) -> str:
    while True:
        candidate = f"{scope}.{kind}"
        if candidate in known:
            return candidate
        if not scope:
            raise ValueError(f"unknown type {kind!r}")
        scope = scope.rpartition(".")[0]


def _describe(message: _Message, target: Any, scope: str, known: set[str]) -> None:
    full = f"{scope}.{message.name}"
    target.name = message.name
    for name in message.oneofs:
        target.oneof_decl.add(name=name)
    for f in message.fields:
        out = target.field.add(name=f.name, number=f.number, label=f.label)
        if f.type in _SCALARS:
            out.type = _SCALARS[f.type]
        else:
            out.type = _F.TYPE_MESSAGE
            out.type_name = _resolve(f.type, full, known)
        if f.oneof is not None:
            out.oneof_index = f.oneof
    for start in message.extensions:
        target.extension_range.add(start=start, end=_MAX_FIELD)
    for nested in message.nested:
        _describe(nested, target.nested_type.add(), full, known)


def message_classes(path: Path) -> dict[str, Any]:
    """Every top-level message of the file, by name, as a class of a private pool."""
    package, messages = _Parser(path.read_text(encoding="utf-8")).file()
    known: set[str] = set()
    _names(messages, f".{package}", known)
    proto = descriptor_pb2.FileDescriptorProto(name=path.name, package=package, syntax="proto2")
    for message in messages:
        _describe(message, proto.message_type.add(), f".{package}", known)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{m.name}"))
        for m in messages
    }
