"""A minimal Caffe protobuf schema (the fields jaxpose reads), built at import without `protoc`.

Field numbers and defaults follow BVLC Caffe's `src/caffe/proto/caffe.proto`. Only what the
converter and the test writer need is modelled; text-format parsing skips the rest
(`parse_prototxt` uses `allow_unknown_field`), and binary parsing keeps unknown fields aside.

One deliberate difference: `BlobProto.data` / `double_data` are declared `repeated bytes` instead
of `repeated float` / `repeated double [packed = true]`. On the wire a packed repeated float field
*is* a length-delimited record, so the two declarations read the same bytes; as `bytes` the
payload reaches Python as one buffer that `np.frombuffer` views without copying, instead of tens of
millions of Python floats (see `jaxpose.convert.caffe.read_caffemodel`). The writer emits the
same packed encoding Caffe does, so files round-trip with Caffe and OpenCV.

Messages: `NetParameter`, `LayerParameter`, `V1LayerParameter`, `BlobProto`, `BlobShape`,
`ConvolutionParameter`, `PoolingParameter`, `ConcatParameter`, `PReLUParameter`.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_TYPES = {
    "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "float": _F.TYPE_FLOAT, "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64, "uint32": _F.TYPE_UINT32, "bool": _F.TYPE_BOOL,
}
_PACKAGE = "jaxpose_caffe"

# message -> [(label, type or ".Message" / "enum:.Enum", name, number, default or None)]
_MESSAGES: dict[str, list[tuple]] = {
    "BlobShape": [(_REP, "int64", "dim", 1, None)],
    "BlobProto": [
        (_OPT, ".BlobShape", "shape", 7, None),
        (_REP, "bytes", "data", 5, None),  # packed float32, little-endian (see module docstring)
        (_REP, "bytes", "double_data", 8, None),  # packed float64
        (_OPT, "int32", "num", 1, "0"),
        (_OPT, "int32", "channels", 2, "0"),
        (_OPT, "int32", "height", 3, "0"),
        (_OPT, "int32", "width", 4, "0"),
    ],
    "ConvolutionParameter": [
        (_OPT, "uint32", "num_output", 1, None),
        (_OPT, "bool", "bias_term", 2, "true"),
        (_REP, "uint32", "pad", 3, None),
        (_REP, "uint32", "kernel_size", 4, None),
        (_REP, "uint32", "stride", 6, None),
        (_REP, "uint32", "dilation", 18, None),
        (_OPT, "uint32", "pad_h", 9, "0"),
        (_OPT, "uint32", "pad_w", 10, "0"),
        (_OPT, "uint32", "kernel_h", 11, None),
        (_OPT, "uint32", "kernel_w", 12, None),
        (_OPT, "uint32", "stride_h", 13, None),
        (_OPT, "uint32", "stride_w", 14, None),
        (_OPT, "uint32", "group", 5, "1"),
    ],
    "PoolingParameter": [
        (_OPT, "enum:.PoolingParameter.PoolMethod", "pool", 1, "MAX"),
        (_OPT, "uint32", "pad", 4, "0"),
        (_OPT, "uint32", "kernel_size", 2, None),
        (_OPT, "uint32", "stride", 3, "1"),
        (_OPT, "bool", "global_pooling", 12, "false"),
    ],
    "ConcatParameter": [
        (_OPT, "int32", "axis", 2, "1"),
        (_OPT, "uint32", "concat_dim", 1, "1"),
    ],
    "PReLUParameter": [(_OPT, "bool", "channel_shared", 2, "false")],
    "LayerParameter": [
        (_OPT, "string", "name", 1, None),
        (_OPT, "string", "type", 2, None),
        (_REP, "string", "bottom", 3, None),
        (_REP, "string", "top", 4, None),
        (_REP, ".BlobProto", "blobs", 7, None),
        (_OPT, ".ConvolutionParameter", "convolution_param", 106, None),
        (_OPT, ".PoolingParameter", "pooling_param", 121, None),
        (_OPT, ".ConcatParameter", "concat_param", 104, None),
        (_OPT, ".PReLUParameter", "prelu_param", 131, None),
    ],
    "V1LayerParameter": [
        (_OPT, "string", "name", 4, None),
        (_OPT, "enum:.V1LayerParameter.LayerType", "type", 5, None),
        (_REP, "string", "bottom", 2, None),
        (_REP, "string", "top", 3, None),
        (_REP, ".BlobProto", "blobs", 6, None),
        (_OPT, ".ConvolutionParameter", "convolution_param", 10, None),
        (_OPT, ".PoolingParameter", "pooling_param", 19, None),
        (_OPT, ".ConcatParameter", "concat_param", 9, None),
    ],
    "NetParameter": [
        (_OPT, "string", "name", 1, None),
        (_REP, "string", "input", 3, None),
        (_REP, "int32", "input_dim", 4, None),
        (_REP, ".BlobShape", "input_shape", 8, None),
        (_REP, ".LayerParameter", "layer", 100, None),
        (_REP, ".V1LayerParameter", "layers", 2, None),
    ],
}
_ENUMS = {
    "PoolingParameter": {"PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}},
    # The V1 layer types OpenPose-era networks use (caffe.proto V1LayerParameter.LayerType).
    "V1LayerParameter": {"LayerType": {
        "NONE": 0, "CONCAT": 3, "CONVOLUTION": 4, "DATA": 5, "DROPOUT": 6, "INNER_PRODUCT": 14,
        "POOLING": 17, "RELU": 18, "SIGMOID": 19, "SOFTMAX": 20, "SPLIT": 22, "EUCLIDEAN_LOSS": 7,
    }},
}
# V1 enum -> the new-style type string.
V1_TYPE_NAMES = {
    "CONCAT": "Concat", "CONVOLUTION": "Convolution", "DATA": "Data", "DROPOUT": "Dropout",
    "INNER_PRODUCT": "InnerProduct", "POOLING": "Pooling", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SOFTMAX": "Softmax", "SPLIT": "Split", "EUCLIDEAN_LOSS": "EuclideanLoss", "NONE": "None",
}


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="jaxpose_caffe.proto", package=_PACKAGE, syntax="proto2")
    for msg_name, fields in _MESSAGES.items():
        msg = file.message_type.add(name=msg_name)
        for enum_name, values in _ENUMS.get(msg_name, {}).items():
            enum = msg.enum_type.add(name=enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for label, type_name, name, number, default in fields:
            field = msg.field.add(name=name, number=number, label=label)
            if type_name.startswith("enum:"):
                field.type, field.type_name = _F.TYPE_ENUM, f".{_PACKAGE}{type_name[5:]}"
            elif type_name.startswith("."):
                field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}{type_name}"
            else:
                field.type = _TYPES[type_name]
            if default is not None:
                field.default_value = default
            if type_name in ("int64", "int32", "uint32") and label == _REP and name == "dim":
                field.options.packed = True
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())


def _message_class(name: str) -> type:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


NetParameter = _message_class("NetParameter")
LayerParameter = _message_class("LayerParameter")
V1LayerParameter = _message_class("V1LayerParameter")
BlobProto = _message_class("BlobProto")
BlobShape = _message_class("BlobShape")


def v1_type_name(value: int) -> str:
    """The new-style type string of a V1 `LayerType` enum value ("Unknown" for unmodelled ones)."""
    enum_value = V1LayerParameter.DESCRIPTOR.enum_types_by_name["LayerType"].values_by_number.get(value)
    return V1_TYPE_NAMES.get(enum_value.name, "Unknown") if enum_value is not None else "Unknown"


def parse_prototxt(text: str) -> "NetParameter":
    """Parse Caffe text format into `NetParameter`, skipping fields this schema does not model.

    Raises `google.protobuf.text_format.ParseError` on malformed text.
    """
    net = NetParameter()
    text_format.Parse(text, net, allow_unknown_field=True)
    return net
