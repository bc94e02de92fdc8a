"""A minimal TensorFlow `GraphDef` schema, built in Python (no TensorFlow, no protoc).

Only the messages a frozen inference graph needs: `GraphDef`, `NodeDef`, `AttrValue` (+ `ListValue`,
`NameAttrList`), `TensorProto`, `TensorShapeProto`. Field numbers are those of TensorFlow's
`tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape}.proto`; `DataType` enums
are read as plain integers (same wire format), see `DT_*` below. Fields we never read (function
library, resource handles, versions) are left out: protobuf skips unknown fields when parsing.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# tensorflow/core/framework/types.proto
DT_FLOAT = 1
DT_DOUBLE = 2
DT_INT32 = 3
DT_UINT8 = 4
DT_INT16 = 5
DT_INT8 = 6
DT_STRING = 7
DT_INT64 = 9
DT_BOOL = 10
DT_HALF = 19

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "jaxpose_tf"


def _message(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> descriptor_pb2.DescriptorProto:
    """A message descriptor from `(name, number, type, label, type_name)` rows."""
    msg = descriptor_pb2.DescriptorProto(name=name)
    for fname, number, ftype, label, type_name in fields:
        field = msg.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = f".{_PACKAGE}.{type_name}"
    return msg


def _map_entry(name: str, value_type: str) -> descriptor_pb2.DescriptorProto:
    entry = _message(name, [
        ("key", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
        ("value", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, value_type),
    ])
    entry.options.map_entry = True
    return entry


def _file() -> descriptor_pb2.FileDescriptorProto:
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    f = descriptor_pb2.FileDescriptorProto(name="jaxpose_tf_graph.proto", package=_PACKAGE, syntax="proto3")

    shape = _message("TensorShapeProto", [
        ("dim", 2, _F.TYPE_MESSAGE, rep, "TensorShapeProto.Dim"),
        ("unknown_rank", 3, _F.TYPE_BOOL, opt, None),
    ])
    shape.nested_type.append(_message("Dim", [
        ("size", 1, _F.TYPE_INT64, opt, None),
        ("name", 2, _F.TYPE_STRING, opt, None),
    ]))

    tensor = _message("TensorProto", [
        ("dtype", 1, _F.TYPE_INT32, opt, None),
        ("tensor_shape", 2, _F.TYPE_MESSAGE, opt, "TensorShapeProto"),
        ("version_number", 3, _F.TYPE_INT32, opt, None),
        ("tensor_content", 4, _F.TYPE_BYTES, opt, None),
        ("float_val", 5, _F.TYPE_FLOAT, rep, None),
        ("double_val", 6, _F.TYPE_DOUBLE, rep, None),
        ("int_val", 7, _F.TYPE_INT32, rep, None),
        ("string_val", 8, _F.TYPE_BYTES, rep, None),
        ("int64_val", 10, _F.TYPE_INT64, rep, None),
        ("bool_val", 11, _F.TYPE_BOOL, rep, None),
        ("half_val", 13, _F.TYPE_INT32, rep, None),
    ])

    attr = _message("AttrValue", [
        ("list", 1, _F.TYPE_MESSAGE, opt, "AttrValue.ListValue"),
        ("s", 2, _F.TYPE_BYTES, opt, None),
        ("i", 3, _F.TYPE_INT64, opt, None),
        ("f", 4, _F.TYPE_FLOAT, opt, None),
        ("b", 5, _F.TYPE_BOOL, opt, None),
        ("type", 6, _F.TYPE_INT32, opt, None),
        ("shape", 7, _F.TYPE_MESSAGE, opt, "TensorShapeProto"),
        ("tensor", 8, _F.TYPE_MESSAGE, opt, "TensorProto"),
        ("placeholder", 9, _F.TYPE_STRING, opt, None),
        ("func", 10, _F.TYPE_MESSAGE, opt, "NameAttrList"),
    ])
    attr.oneof_decl.add(name="value")
    for field in attr.field:
        field.oneof_index = 0
    attr.nested_type.append(_message("ListValue", [
        ("s", 2, _F.TYPE_BYTES, rep, None),
        ("i", 3, _F.TYPE_INT64, rep, None),
        ("f", 4, _F.TYPE_FLOAT, rep, None),
        ("b", 5, _F.TYPE_BOOL, rep, None),
        ("type", 6, _F.TYPE_INT32, rep, None),
        ("shape", 7, _F.TYPE_MESSAGE, rep, "TensorShapeProto"),
        ("tensor", 8, _F.TYPE_MESSAGE, rep, "TensorProto"),
        ("func", 9, _F.TYPE_MESSAGE, rep, "NameAttrList"),
    ]))

    name_attrs = _message("NameAttrList", [
        ("name", 1, _F.TYPE_STRING, opt, None),
        ("attr", 2, _F.TYPE_MESSAGE, rep, "NameAttrList.AttrEntry"),
    ])
    name_attrs.nested_type.append(_map_entry("AttrEntry", "AttrValue"))

    node = _message("NodeDef", [
        ("name", 1, _F.TYPE_STRING, opt, None),
        ("op", 2, _F.TYPE_STRING, opt, None),
        ("input", 3, _F.TYPE_STRING, rep, None),
        ("device", 4, _F.TYPE_STRING, opt, None),
        ("attr", 5, _F.TYPE_MESSAGE, rep, "NodeDef.AttrEntry"),
    ])
    node.nested_type.append(_map_entry("AttrEntry", "AttrValue"))

    graph = _message("GraphDef", [
        ("node", 1, _F.TYPE_MESSAGE, rep, "NodeDef"),
        ("version", 3, _F.TYPE_INT32, opt, None),
    ])

    f.message_type.extend([shape, tensor, attr, name_attrs, node, graph])
    return f


def _build() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    names = ("GraphDef", "NodeDef", "AttrValue", "TensorProto", "TensorShapeProto")
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{n}")) for n in names}


_CLASSES = _build()
GraphDef = _CLASSES["GraphDef"]
NodeDef = _CLASSES["NodeDef"]
AttrValue = _CLASSES["AttrValue"]
TensorProto = _CLASSES["TensorProto"]
TensorShapeProto = _CLASSES["TensorShapeProto"]
