"""The service's JSON contract: request and response models, and one error body for all.

Feature values must be finite JSON numbers: text, booleans, null, NaN and ±Infinity
(and numbers that overflow to infinity, such as ``1e999``) are refused by the models
themselves. Which features a flow needs depends on the served model, so that check
happens at prediction time (:class:`arf_ids.core.errors.InvalidFlowError`).

Every refusal has the same body, naming the field (``loc``) and the problem (``msg``)::

    {"error": "invalid input", "detail": [{"loc": ["features", "Flow Duration"], "msg": "...", "type": "..."}]}

>>> FlowIn.model_validate({"flow_id": "f1", "features": [1, 2.5]}).features
[1.0, 2.5]
>>> from pydantic import ValidationError
>>> try:
...     FlowIn.model_validate_json('{"flow_id": "f1", "features": {"a": NaN}}')
... except ValidationError as error:
...     validation_detail(error.errors())
[{'loc': ['features', 'a'], 'msg': 'Input should be a finite number', 'type': 'finite_number'}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from arf_ids.core.errors import InvalidFlowError

FeatureValue = Annotated[float, Strict(), AllowInfNan(False)]
FlowId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


_FEATURE_TAGS = ("mapping", "list")
Body = TypeVar("Body", bound=BaseModel)


def _features_kind(value: Any) -> str | None:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list) else None


#: A flow's features: ``{name: value}`` or a list of values in the model's feature order.
Features = Annotated[
    Annotated[dict[str, FeatureValue], Tag("mapping")] | Annotated[list[FeatureValue], Tag("list")],
    Discriminator(
        _features_kind,
        custom_error_type="features_type",
        custom_error_message="features must be an object of name: number or a list of numbers in the model's order",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlowIn(_Strict):
    """One flow to classify."""

    flow_id: FlowId
    features: Features


class PredictionOut(_Strict):
    """The verdict on one flow (``confidence`` by the confident-tree vote)."""

    flow_id: str
    prediction: str
    confidence: float
    trees_used: int
    model_version: int
    latency_ms: float


class BatchIn(_Strict):
    """Many flows, scored as one batch by one model, in one of two shapes.

    * ``flows``: one object per flow, each like ``POST /predict``'s body; answered by :class:`BatchOut`.
    * ``flow_ids`` and ``columns`` (one list per feature, as ``DataFrame.to_dict("list")`` gives
      them): the compact shape, which names each feature once and parses several times faster;
      answered by :class:`ColumnBatchOut`, in the same order.

    >>> BatchIn.model_validate({"flow_ids": ["a", "b"], "columns": {"x": [1.0, 2.0]}}).columns
    {'x': [1.0, 2.0]}
    """

    flows: list[FlowIn] | None = Field(default=None, min_length=1)
    flow_ids: list[FlowId] | None = Field(default=None, min_length=1)
    columns: dict[str, list[FeatureValue]] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> BatchIn:
        if self.flows is not None:
            if self.flow_ids is not None or self.columns is not None:
                raise ValueError("send either flows, or flow_ids with columns, not both")
        elif self.flow_ids is None or self.columns is None:
            raise ValueError("send flows, or flow_ids with columns")
        return self


class BatchItemOut(_Strict):
    flow_id: str
    prediction: str
    confidence: float
    trees_used: int


class BatchOut(_Strict):
    predictions: list[BatchItemOut]
    model_version: int
    latency_ms: float


class ColumnBatchOut(_Strict):
    """Verdicts on a :class:`ColumnBatchIn`, one list per field, row ``i`` for ``flow_ids[i]``."""

    flow_ids: list[str]
    predictions: list[str]
    confidences: list[float]
    trees_used: list[int]
    model_version: int
    latency_ms: float


class LabelIn(_Strict):
    """The true label of a flow, for drift detection."""

    flow_id: FlowId
    true_label: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LabelBatchIn(_Strict):
    labels: list[LabelIn] = Field(min_length=1)


class LabelOut(_Strict):
    accepted: int
    model_version: int


class StatusOut(BaseModel):
    """``GET /``: the service and the model it serves."""

    status: str
    version: str
    model_version: int | None
    reload_count: int
    model_source: str | None
    model_sha256: str | None
    registry: dict[str, object]
    logs: dict[str, object]
    websocket_connections: int


class ServiceError(Exception):
    """A refusal with an HTTP status and the standard error body."""

    def __init__(self, status: int, error: str, detail: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = list(detail)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail}


def field_error(loc: Sequence[str | int], msg: str, kind: str) -> dict[str, Any]:
    """One entry of an error body's ``detail``."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def invalid_input(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> ServiceError:
    return ServiceError(400, "invalid input", [field_error(loc, msg, kind)])


def invalid_flow(error: InvalidFlowError, prefix: Sequence[str | int] = ()) -> ServiceError:
    """400 naming the flow's bad feature (``prefix`` locates the flow inside a batch)."""
    loc = [*prefix, "features"] + ([error.feature] if error.feature is not None else [])
    return invalid_input(loc, error.problem if error.feature is not None else str(error).split(": ", 1)[-1])


def parse_body(model: type[Body], body: bytes) -> Body:
    """The request body validated as ``model`` straight from its JSON bytes; 400 naming every problem.

    >>> parse_body(FlowIn, b'{"flow_id": "f1", "features": [1, 2]}').features
    [1.0, 2.0]
    >>> try:
    ...     parse_body(FlowIn, b'{"flow_id": "f1", "features": {"a": "x"}}')
    ... except ServiceError as error:
    ...     error.status, error.detail[0]["loc"]
    (400, ['features', 'a'])
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise ServiceError(400, "invalid input", validation_detail(error.errors())) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of a route that reads its body itself (:func:`parse_body`), nested models inlined."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        return [inline(item) for item in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic/FastAPI validation errors as ``detail`` entries.

    ``loc`` loses FastAPI's leading ``body`` and the ``mapping``/``list`` tag after ``features``;
    a body that is not JSON at all is located at ``["body"]``.
    """
    detail = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if error.get("type") == "json_invalid" or not loc:  # not JSON, or a rule about the body as a whole
            loc = ["body"]
        elif loc and loc[0] == "body":
            loc = loc[1:]
        for position in range(len(loc) - 1):
            if loc[position] == "features" and loc[position + 1] in _FEATURE_TAGS:
                del loc[position + 1]
                break
        detail.append(field_error(loc, str(error.get("msg", "")), str(error.get("type", "value_error"))))
    return detail
