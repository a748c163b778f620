from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeshPluginData(_message.Message):
    __slots__ = ["components", "content_type", "json_config", "name", "shape", "version"]
    class ContentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    COLOR: MeshPluginData.ContentType
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FACE: MeshPluginData.ContentType
    JSON_CONFIG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    UNDEFINED: MeshPluginData.ContentType
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VERTEX: MeshPluginData.ContentType
    components: int
    content_type: MeshPluginData.ContentType
    json_config: str
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    version: int
    def __init__(self, version: _Optional[int] = ..., name: _Optional[str] = ..., content_type: _Optional[_Union[MeshPluginData.ContentType, str]] = ..., json_config: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., components: _Optional[int] = ...) -> None: ...
