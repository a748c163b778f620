from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
DT_BFLOAT16: DataType
DT_BOOL: DataType
DT_COMPLEX128: DataType
DT_COMPLEX64: DataType
DT_DOUBLE: DataType
DT_FLOAT: DataType
DT_HALF: DataType
DT_INT16: DataType
DT_INT32: DataType
DT_INT64: DataType
DT_INT8: DataType
DT_INVALID: DataType
DT_QINT16: DataType
DT_QINT32: DataType
DT_QINT8: DataType
DT_QUINT16: DataType
DT_QUINT8: DataType
DT_RESOURCE: DataType
DT_STRING: DataType
DT_UINT16: DataType
DT_UINT32: DataType
DT_UINT64: DataType
DT_UINT8: DataType
DT_VARIANT: DataType

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
