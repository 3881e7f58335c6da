from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeRequest(_message.Message):
    __slots__ = ("backend", "namespace", "explain", "anonymize", "nocache", "language", "max_concurrency", "output", "filters", "label_selector")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    ANONYMIZE_FIELD_NUMBER: _ClassVar[int]
    NOCACHE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    backend: str
    namespace: str
    explain: bool
    anonymize: bool
    nocache: bool
    language: str
    max_concurrency: int
    output: str
    filters: _containers.RepeatedScalarFieldContainer[str]
    label_selector: str
    def __init__(self, backend: _Optional[str] = ..., namespace: _Optional[str] = ..., explain: _Optional[bool] = ..., anonymize: _Optional[bool] = ..., nocache: _Optional[bool] = ..., language: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., output: _Optional[str] = ..., filters: _Optional[_Iterable[str]] = ..., label_selector: _Optional[str] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("error", "errors", "status", "problems", "results")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    error: Error
    errors: _containers.RepeatedScalarFieldContainer[str]
    status: str
    problems: int
    results: _containers.RepeatedCompositeFieldContainer[Result]
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ..., errors: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., problems: _Optional[int] = ..., results: _Optional[_Iterable[_Union[Result, _Mapping]]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("message", "code")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    message: str
    code: int
    def __init__(self, message: _Optional[str] = ..., code: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("kind", "name", "error", "details", "parent_object")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    PARENT_OBJECT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    error: _containers.RepeatedCompositeFieldContainer[ErrorDetail]
    details: str
    parent_object: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., error: _Optional[_Iterable[_Union[ErrorDetail, _Mapping]]] = ..., details: _Optional[str] = ..., parent_object: _Optional[str] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("text", "sensitive")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    text: str
    sensitive: _containers.RepeatedCompositeFieldContainer[SensitiveData]
    def __init__(self, text: _Optional[str] = ..., sensitive: _Optional[_Iterable[_Union[SensitiveData, _Mapping]]] = ...) -> None: ...

class SensitiveData(_message.Message):
    __slots__ = ("unmasked", "masked")
    UNMASKED_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    unmasked: str
    masked: str
    def __init__(self, unmasked: _Optional[str] = ..., masked: _Optional[str] = ...) -> None: ...

class ListIntegrationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListIntegrationsResponse(_message.Message):
    __slots__ = ("trivy",)
    TRIVY_FIELD_NUMBER: _ClassVar[int]
    trivy: Trivy
    def __init__(self, trivy: _Optional[_Union[Trivy, _Mapping]] = ...) -> None: ...

class Trivy(_message.Message):
    __slots__ = ("enabled", "skip_install", "namespace")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SKIP_INSTALL_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    skip_install: bool
    namespace: str
    def __init__(self, enabled: _Optional[bool] = ..., skip_install: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...
