"""A ``torch.nn.Module`` as a ``GraphDef``, through ``torch.jit.trace``.

The model is traced in eval mode (the training mode of the model and of each
submodule is restored afterwards)
and the trace is inlined, so every ``aten::`` op of every submodule appears.
Nodes are named after the module that ran them::

    Net/Sequential[features]/Conv2d[0]/_convolution     op aten::_convolution
    Net/Sequential[features]/Conv2d[0]/weight           op prim::GetAttr (a parameter or buffer)
    input/x, output/output.0                            op IO Node

(``<class>[<attribute>]`` per level, as torch and tensorboardX name them.)
Every node with tensor outputs has an ``_output_shapes`` attribute; constants
carry their value in a ``value`` attribute.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from anyboard.graph import NameTable, graph_def, node, shapes_attr, text_attr
from anyboard.proto.graph_pb2 import GraphDef

log = logging.getLogger(__name__)


def _trace_args(input_to_model: Any) -> tuple[Any, ...]:
    if input_to_model is None:
        return ()
    if isinstance(input_to_model, tuple):
        return input_to_model
    if isinstance(input_to_model, list):
        return tuple(input_to_model)
    return (input_to_model,)


def _class_name(module: Any) -> str:
    """The module's class name; for a scripted or traced module (``RecursiveScriptModule``,
    ``TracedModule``) the class it was made from, as torch names its scopes."""
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        original = getattr(module, "original_name", None)
        if isinstance(original, str) and original:
            return original
    return type(module).__name__


def _scope_table(model: Any) -> dict[str, str]:
    """Module path (``"features.0"``, ``""`` for the model) -> ``Net/Sequential[features]/Conv2d[0]``."""
    table = {"": _class_name(model)}
    for path, module in model.named_modules(remove_duplicate=False):
        if path:
            parent, _, attr = path.rpartition(".")
            table[path] = f"{table.get(parent, table[''])}/{_class_name(module)}[{attr}]"
    return table


def _scope(scope_name: str, table: dict[str, str]) -> str:
    """``"__module.features/__module.features.0"`` -> the display scope of its innermost module."""
    root = table[""]
    if not scope_name:
        return root
    last = scope_name.rsplit("/", 1)[-1]
    path = last.removeprefix("__module.")
    return table.get(path, f"{root}/{path.replace('/', '_')}")


def _sizes(value: Any, torch: Any) -> list[int] | None:
    kind = value.type()
    if isinstance(kind, torch._C.TensorType):
        sizes = kind.sizes()
        return list(sizes) if sizes is not None else None
    return None


# torch 2.13 warns this (from torch.jit._trace) on every torch.jit.trace call
_TRACE_DEPRECATION = "`torch.jit.trace` is deprecated. Please switch to `torch.compile` or `torch.export`."
_TRACE_DEPRECATION_RE = r".*torch\.jit\.trace.* is deprecated"


def _matches(pattern: Any, value: str) -> bool:
    """A filter's message or module pattern: None (any), a compiled regex, or a plain string (the
    interpreter's own default filters name ``__main__`` so), which must equal the value."""
    if pattern is None:
        return True
    if isinstance(pattern, str):
        return pattern == value
    return pattern.match(value) is not None


def _filters_ignore(message: str, module: str) -> bool:
    """Whether the warning filters in force ignore a ``DeprecationWarning`` with ``message`` from ``module``.

    ``trace`` changes the filters (``warnings.catch_warnings``) only when they would not: entering or
    leaving that block clears every module's record of the warnings already shown, so each would be
    shown again (at its next ``warn``) in the user's process.
    """
    for action, text, category, mod, lineno in warnings.filters:
        if _matches(text, message) and issubclass(DeprecationWarning, category) and _matches(mod, module):
            return action == "ignore" and lineno == 0
    return str(getattr(warnings, "defaultaction", "default")) == "ignore"


def trace(model: Any, input_to_model: Any = None, strict: bool = True) -> Any:
    """``torch.jit.trace`` of ``model`` in eval mode, inlined.

    A failure raises :class:`~anyboard.graph.GraphTraceError` (a ``ValueError``
    and a ``RuntimeError``; also a ``TypeError`` when the tracer raised one
    for the inputs given)
    naming the model, chained to the tracer's exception.
    """
    import torch

    from anyboard.graph import GraphTraceError, GraphTraceTypeError

    args = _trace_args(input_to_model)
    modes = [(m, m.training) for m in model.modules()]  # each one's: a frozen submodule stays in eval mode
    model.eval()
    try:
        with torch.no_grad():
            if _filters_ignore(_TRACE_DEPRECATION, "torch.jit._trace"):
                traced = torch.jit.trace(model, args, strict=strict, check_trace=False)
            else:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=_TRACE_DEPRECATION_RE, category=DeprecationWarning)
                    traced = torch.jit.trace(model, args, strict=strict, check_trace=False)
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = " ".join(lines[:2]) if lines else type(exc).__name__
        hint = "" if args else " (no input_to_model was given; pass example inputs)"
        # no example input: the peers' tracer call fails with a RuntimeError, so no TypeError here
        error = GraphTraceTypeError if isinstance(exc, TypeError) and args else GraphTraceError
        raise error(
            f"add_graph: torch.jit.trace could not trace model {_class_name(model)}{hint}: {first[:300]}"
        ) from exc
    finally:
        model.train(modes[0][1])  # as the peers restore it (a model's own train() override runs) ...
        for module, was_training in modes:  # ... then every submodule's own mode, where that changed it
            if module.training != was_training:
                module.training = was_training
    return traced.inlined_graph


def torch_graph(model: Any, input_to_model: Any = None, strict: bool = True, verbose: bool = False) -> GraphDef:
    """``model`` traced with ``input_to_model`` (a tensor or a tuple/list of inputs) as a ``GraphDef``."""
    import torch

    graph = trace(model, input_to_model, strict)
    if verbose:
        log.info("add_graph: traced graph of %s:\n%s", type(model).__name__, graph)
    scopes = _scope_table(model)
    tensors = dict(model.named_parameters(remove_duplicate=False))
    tensors.update(model.named_buffers(remove_duplicate=False))
    names = NameTable()
    module_of: dict[str, str] = {}  # debugName of a module value -> its module path
    source: dict[str, str] = {}  # debugName of a value -> the NodeDef input string producing it
    nodes = []

    for value in graph.inputs():
        if isinstance(value.type(), torch._C.ClassType):
            module_of[value.debugName()] = ""
            continue
        name = names.unique(f"input/{value.debugName()}")
        source[value.debugName()] = name
        nodes.append(node(name, "IO Node", attrs={"_output_shapes": shapes_attr([_sizes(value, torch)])}))

    for jit_node in graph.nodes():
        kind = jit_node.kind()
        outputs = list(jit_node.outputs())
        if kind == "prim::GetAttr":
            owner = module_of.get(jit_node.input().debugName())
            out = jit_node.output()
            if owner is None:
                continue
            path = f"{owner}.{jit_node.s('name')}" if owner else jit_node.s("name")
            if isinstance(out.type(), torch._C.ClassType):
                module_of[out.debugName()] = path
                continue
            name = f"{scopes.get(owner, scopes[''])}/{jit_node.s('name')}"
            if name not in names:  # the same parameter read twice is one node
                tensor = tensors.get(path)
                shape = list(tensor.shape) if tensor is not None else None
                nodes.append(node(names.unique(name), kind, attrs={"_output_shapes": shapes_attr([shape])}))
            source[out.debugName()] = name
            continue
        op_short = kind.split("::", 1)[-1]
        name = names.unique(f"{_scope(jit_node.scopeName(), scopes)}/{op_short}")
        inputs = [source[v.debugName()] for v in jit_node.inputs() if v.debugName() in source]
        attrs = {}
        shapes = [_sizes(v, torch) for v in outputs]
        if any(s is not None for s in shapes):
            attrs["_output_shapes"] = shapes_attr(shapes)
        if kind == "prim::Constant" and outputs and jit_node.hasAttributes():
            try:
                attrs["value"] = text_attr(jit_node.output().toIValue())
            except Exception:  # noqa: BLE001 - some constants (e.g. devices, functions) have no IValue
                attrs["value"] = text_attr(str(jit_node.output().type()))
        for k, v in enumerate(outputs):
            source[v.debugName()] = name if k == 0 else f"{name}:{k}"
        nodes.append(node(name, kind, inputs, attrs))

    for k, value in enumerate(graph.outputs()):
        producer = source.get(value.debugName())
        nodes.append(
            node(
                names.unique(f"output/output.{k}"),
                "IO Node",
                [producer] if producer else [],
                {"_output_shapes": shapes_attr([_sizes(value, torch)])},
            )
        )
    return graph_def(nodes)
