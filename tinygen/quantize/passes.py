"""Graph rewrites on the float graph, in the order :func:`simplify` applies them: fold BatchNorm into
the conv/dense before it, fuse ReLU/ReLU6 into the op before it, turn a per-tensor affine that alone reads a
graph input (a Normalization with one mean and variance) into a ``rescale`` op (which the quantizer folds into
the input's quantization), lower the remaining BatchNorms to 1x1 depthwise convs, fuse 'same'-equivalent
ZeroPadding2D into convs, drop unused tensors."""

from __future__ import annotations

import numpy as np

from tinygen import ops
from tinygen.ir import Graph, Op, same_padding
from tinygen.quantize.builder import AFFINE, Builder


def simplify(graph: Graph) -> None:
    _fold_batch_norms(graph)
    _fuse_relus(graph)
    _input_affines_to_rescale(graph)
    _lower_affines(graph)
    _fuse_pads(graph)
    _prune(graph)


def _single_consumer(graph: Graph, tensor: str) -> bool:
    return tensor not in graph.outputs and len(graph.consumers(tensor)) == 1


def _bypass(graph: Graph, op: Op, replacement: str) -> None:
    """Remove ``op`` (one input, one output) and give its output's name to ``replacement``'s producer."""
    out = op.outputs[0]
    graph.ops.remove(op)
    producer = graph.producers()[replacement]
    producer.outputs = [out]
    del graph.tensors[replacement]


def _fold_batch_norms(graph: Graph) -> None:
    """BatchNormalization right after a conv/depthwise/dense (its only consumer) scales its weights."""
    for op in [o for o in graph.ops if o.kind == AFFINE]:
        src = op.inputs[0]
        producer = graph.producers().get(src)
        if producer is None or producer.kind == AFFINE or not ops.get(producer.kind).folds_batchnorm:
            continue
        if producer.activation != "none":
            continue
        if not _single_consumer(graph, src):
            continue
        scale, shift = op.attrs["scale"], op.attrs["shift"]
        weights, bias = graph.tensors[producer.inputs[1]], graph.tensors[producer.inputs[2]]
        axis = ops.get(producer.kind).weight_axis
        shape = [1] * weights.data.ndim
        shape[axis] = -1
        weights.data = (weights.data * scale.reshape(shape)).astype(np.float32)
        bias.data = (bias.data * scale + shift).astype(np.float32)
        _bypass(graph, op, src)


def _fuse_relus(graph: Graph) -> None:
    """ReLU/ReLU6 after a conv/depthwise/dense/add (its only consumer) becomes the op's fused activation."""
    for op in [o for o in graph.ops if o.kind != AFFINE and ops.get(o.kind).is_activation]:
        src = op.inputs[0]
        producer = graph.producers().get(src)
        if producer is None or producer.kind == AFFINE or not ops.get(producer.kind).fuses_activation:
            continue
        if producer.activation != "none" or not _single_consumer(graph, src):
            continue
        producer.attrs["activation"] = ops.get(op.kind).is_activation
        _bypass(graph, op, src)


def _input_affines_to_rescale(graph: Graph) -> None:
    """An affine op with one scale and one shift for the whole tensor (every channel's equal) that is the only
    reader of a graph input becomes a ``rescale`` op (the same float32 ``x * scale + offset``): the quantizer
    folds it into the input's quantization (:func:`tinygen.quantize.quantizer.plan_input_folds`) and, where it
    cannot, keeps it as that op's table (one rounding per value) instead of a 1x1 depthwise convolution."""
    from tinygen.ops import rescale

    for op in [o for o in graph.ops if o.kind == AFFINE]:
        x = op.inputs[0]
        if x not in graph.inputs or len(graph.consumers(x)) != 1 or op.outputs[0] in graph.outputs:
            continue
        scale, shift = (np.asarray(op.attrs[k], np.float32).reshape(-1) for k in ("scale", "shift"))
        if np.any(scale != scale[0]) or np.any(shift != shift[0]) or not scale[0] > 0:
            continue
        op.kind = rescale.KIND
        op.attrs = {"scale": float(scale[0]), "offset": float(shift[0])}


def _lower_affines(graph: Graph) -> None:
    """A BatchNormalization that could not be folded is a per-channel affine y = x*scale + shift: a 1x1
    depthwise conv (multiplier 1) whose weights are the scales and bias the shifts. It keeps per-channel
    int8 weights (TFLite's MUL+ADD would quantize the scales per tensor). Inputs that are not 4-D are
    reshaped to [1, 1, n, C] around it."""
    index = 0
    while index < len(graph.ops):
        op = graph.ops[index]
        if op.kind != AFFINE:
            index += 1
            continue
        x, out = op.inputs[0], op.outputs[0]
        shape = graph.tensors[x].shape
        channels = shape[-1]
        from tinygen.ops import depthwise_conv2d as depthwise, reshape

        b = Builder(graph, used=set(graph.tensors))
        del graph.ops[index]  # its name goes to the depthwise conv
        new_ops_start = len(graph.ops)
        x4 = x
        if len(shape) != 4:
            x4 = b.op(reshape.KIND, f"{op.name}/to_4d", [x], (1, 1, int(np.prod(shape[:-1])), channels))
        weights = b.const(f"{op.name}/weights", op.attrs["scale"].reshape(1, 1, 1, channels))
        bias = b.const(f"{op.name}/bias", op.attrs["shift"])
        if len(shape) == 4:
            graph.add_op(Op(depthwise.KIND, op.name, [x4, weights, bias], [out],
                            dict(stride=(1, 1), dilation=(1, 1), padding="valid", depth_multiplier=1,
                                 activation="none")))
        else:
            y4 = b.op(depthwise.KIND, op.name, [x4, weights, bias], graph.tensors[x4].shape,
                      out_name=f"{op.name}/affine", stride=(1, 1), dilation=(1, 1), padding="valid",
                      depth_multiplier=1, activation="none")
            graph.add_op(Op(reshape.KIND, f"{op.name}/from_4d", [y4], [out], {}))
        new_ops = graph.ops[new_ops_start:]
        del graph.ops[new_ops_start:]
        graph.ops[index:index] = new_ops
        index += len(new_ops)
    # A ReLU after a lowered affine can now fuse into its depthwise conv.
    _fuse_relus(graph)


def _fuse_pads(graph: Graph) -> None:
    """ZeroPadding2D + a 'valid' conv whose padding is exactly what 'same' would add is a 'same' conv (as
    TFLite's converter fuses it): one op and no padded copy in RAM."""
    from tinygen.ops import pad

    for op in [o for o in graph.ops if o.kind == pad.KIND]:
        src, padded = op.inputs[0], op.outputs[0]
        consumers = graph.consumers(padded)
        if padded in graph.outputs or len(consumers) != 1:
            continue
        conv = consumers[0]
        # a windowed weighted op (conv, depthwise): weights [.., kh, kw, ..], "padding" and "dilation" attributes
        windowed = conv.kind != AFFINE and ops.get(conv.kind).weight_axis is not None and "dilation" in conv.attrs
        if not windowed or conv.attrs["padding"] != "valid" or conv.inputs[0] != padded:
            continue
        shape = graph.tensors[src].shape
        kernel = graph.tensors[conv.inputs[1]].shape[1:3]
        same = [same_padding(shape[1 + i], kernel[i], conv.attrs["stride"][i], conv.attrs["dilation"][i]) for i in range(2)]
        want = ((0, 0), (same[0][1], same[0][2]), (same[1][1], same[1][2]), (0, 0))
        if tuple(tuple(int(v) for v in p) for p in op.attrs["paddings"]) != want:
            continue
        if graph.tensors[conv.outputs[0]].shape[1:3] != (same[0][0], same[1][0]):
            continue
        conv.inputs[0] = src
        conv.attrs["padding"] = "same"
        graph.ops.remove(op)


def _prune(graph: Graph) -> None:
    """Drop tensors nothing uses (e.g. bypassed outputs)."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        used.update(op.inputs)
        used.update(op.outputs)
    for name in [n for n in graph.tensors if n not in used]:
        del graph.tensors[name]
