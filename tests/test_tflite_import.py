"""The int8 .tflite importer: every real model and corpus model, op attributes, and the error paths."""

from __future__ import annotations

import copy
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from corpus import CORPUS_NAMES, corpus_model

from tinygen import ir
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import c_identifier, import_tflite, tensor_names

#: real models and the TFLite ops models/README.md lists for them, as IR kinds
REAL_MODELS: dict[str, set[str]] = {
    "mlperf_kws_dscnn_int8": {"conv2d", "depthwise_conv2d", "avg_pool2d", "reshape", "fully_connected", "softmax"},
    "mlperf_ic_resnet8_int8": {"conv2d", "add", "avg_pool2d", "reshape", "fully_connected", "softmax"},
    "mlperf_ad01_int8": {"fully_connected"},
    "person_detect": {"conv2d", "depthwise_conv2d", "avg_pool2d", "reshape", "softmax"},
    "micro_speech_quantized": {"depthwise_conv2d", "fully_connected", "reshape", "softmax"},
    "hello_world_int8": {"fully_connected"},
}
# (input shape, output shape) as models/README.md describes them
REAL_IO: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "mlperf_kws_dscnn_int8": ((1, 49, 10, 1), (1, 12)),
    "mlperf_ic_resnet8_int8": ((1, 32, 32, 3), (1, 10)),
    "mlperf_ad01_int8": ((1, 640), (1, 640)),
    "person_detect": ((1, 96, 96, 1), (1, 2)),
    "micro_speech_quantized": ((1, 1960), (1, 4)),
    "hello_world_int8": ((1, 1), (1, 1)),
}


def _schema():  # the object API of the .tflite schema, to build edited models for error paths
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def _edit(data: bytes, edit) -> bytes:
    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tflm_details(data: bytes) -> tuple[dict, dict]:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(data)
    return interpreter.get_input_details(0), interpreter.get_output_details(0)


def _check_graph(graph: ir.Graph) -> None:
    graph.validate()
    names = [t.name for t in graph.tensors.values()]
    assert len(names) == len(set(names))
    for op in graph.ops:
        for name in op.outputs:
            assert graph.tensors[name].dtype in ("int8", "float32")
        if op.kind in ("conv2d", "depthwise_conv2d", "fully_connected"):
            w = graph.tensors[op.inputs[1]]
            assert w.dtype == "int8" and w.is_const and w.quant is not None
            assert w.quant.scale.dtype == np.float32
            if len(op.inputs) == 3:
                b = graph.tensors[op.inputs[2]]
                assert b.dtype == "int32" and b.is_const and b.shape[-1] == w.shape[0 if op.kind != "depthwise_conv2d" else 3]


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_real_model_imports(shared_models: Path, name: str) -> None:
    path = shared_models / f"{name}.tflite"
    graph = import_tflite(path)
    _check_graph(graph)
    assert graph.name == name
    assert {op.kind for op in graph.ops} == REAL_MODELS[name]
    (in_name,), (out_name,) = graph.inputs, graph.outputs
    assert (graph.tensors[in_name].shape, graph.tensors[out_name].shape) == REAL_IO[name]
    # Scales and zero points are exactly TFLite Micro's (its own flatbuffer reader).
    tflm_in, tflm_out = _tflm_details(path.read_bytes())
    for tensor, details in ((graph.tensors[in_name], tflm_in), (graph.tensors[out_name], tflm_out)):
        q = details["quantization_parameters"]
        assert tensor.quant is not None
        assert np.array_equal(tensor.quant.scale, q["scales"]) and tensor.quant.scale.dtype == np.float32
        assert np.array_equal(tensor.quant.zero_point, q["zero_points"])


def test_macs_match_mlperf_figures(shared_models: Path) -> None:
    """The real MLPerf models' MACs equal the DESIGN.md figures the zoo architectures reproduce."""
    from tinygen.zoo import EXPECTED

    for model, zoo_name in (
        ("mlperf_kws_dscnn_int8", "kws_dscnn"),
        ("mlperf_ic_resnet8_int8", "ic_resnet8"),
        ("mlperf_ad01_int8", "ad_autoencoder"),
    ):
        graph = import_tflite(shared_models / f"{model}.tflite")
        macs = sum(ir.op_macs(graph, op) for op in graph.ops)
        assert abs(macs - EXPECTED[zoo_name][1]) / EXPECTED[zoo_name][1] < 0.02, (model, macs)


def test_person_detect_depthwise_layout(shared_models: Path) -> None:
    """Depthwise weights quantized along dimension 3 (older layout); the first one has multiplier 8."""
    graph = import_tflite(shared_models / "person_detect.tflite")
    depthwise = [op for op in graph.ops if op.kind == "depthwise_conv2d"]
    assert len(depthwise) == 14
    first = depthwise[0]
    assert graph.tensors[first.inputs[0]].shape[-1] == 1 and first.attrs["depth_multiplier"] == 8
    for op in depthwise:
        w = graph.tensors[op.inputs[1]]
        assert w.quant is not None and w.quant.axis == 3 and w.quant.scale.size == w.shape[3]
        assert op.attrs["activation"] == "relu6"


def test_quantized_dimension_zero_is_normalised(shared_models: Path) -> None:
    """A depthwise filter recorded with quantized dimension 0 imports the same as dimension 3."""
    data = (shared_models / "person_detect.tflite").read_bytes()

    def to_zero(model) -> None:
        sg = model.subgraphs[0]
        for op in sg.operators:
            if model.operatorCodes[op.opcodeIndex].builtinCode == 4:  # DEPTHWISE_CONV_2D
                sg.tensors[op.inputs[1]].quantization.quantizedDimension = 0

    a, b = import_tflite(data), import_tflite(_edit(data, to_zero))
    for op_a, op_b in zip(a.ops, b.ops):
        for name_a, name_b in zip(op_a.inputs, op_b.inputs):
            ta, tb = a.tensors[name_a], b.tensors[name_b]
            assert (ta.quant is None) == (tb.quant is None)
            if ta.quant is not None and tb.quant is not None:
                assert ta.quant.axis == tb.quant.axis


@pytest.mark.parametrize("name", ["kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder"])
def test_zoo_architectures_match_design(name: str) -> None:
    """The zoo's Keras models have DESIGN.md's parameter counts, and their int8 graphs its MACs (±2 %)."""
    from tinygen import zoo

    want_params, want_macs = zoo.EXPECTED[name]
    model = zoo.MODELS[name]()
    assert abs(model.count_params() - want_params) / want_params < 0.02
    graph = import_tflite(corpus_model(name))
    macs = sum(ir.op_macs(graph, op) for op in graph.ops)
    assert macs == zoo.count_macs(model)
    assert abs(macs - want_macs) / want_macs < 0.02
    # BatchNorm statistics are non-trivial, so folding changed something.
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            assert not np.allclose(mean, 0) and not np.allclose(var, 1) and not np.allclose(gamma, 1)


EXPECTED_KINDS = {
    "conv_relu": ["conv2d", "conv2d"],
    "conv_relu6": ["conv2d"],
    "conv_dilation": ["conv2d", "conv2d"],
    "depthwise_m1": ["depthwise_conv2d", "depthwise_conv2d"],
    "depthwise_m2": ["depthwise_conv2d"],
    "dense_softmax": ["fully_connected", "fully_connected", "softmax"],
    "dense_3d": ["fully_connected"],
    "max_pool": ["conv2d", "max_pool2d", "max_pool2d"],
    "avg_pool": ["avg_pool2d", "avg_pool2d"],
    "global_avg_pool": ["conv2d", "mean", "conv2d", "mean", "fully_connected"],
    "residual_add": ["conv2d", "conv2d", "add"],
    "mul": ["conv2d", "conv2d", "mul"],
    "concatenate": ["conv2d", "conv2d", "concatenation", "conv2d"],
    "pad": ["pad", "conv2d"],
    "standalone_relu": ["relu", "relu6", "concatenation", "conv2d"],
    "bn_broadcast": ["mul", "add", "conv2d"],
    "squeeze_source": ["conv2d", "avg_pool2d", "reshape", "softmax"],
    "requantize": ["conv2d", "quantize", "conv2d"],
    "padv2": ["pad", "conv2d"],
    "squeeze": ["conv2d", "avg_pool2d", "reshape", "softmax"],
    "float_io": ["quantize", "conv2d", "reshape", "fully_connected", "dequantize"],
}


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus_model_imports(name: str) -> None:
    graph = import_tflite(corpus_model(name), name=name)
    _check_graph(graph)
    assert graph.name == name
    if name in EXPECTED_KINDS:
        kinds = [op.kind for op in graph.ops]
        assert sorted(kinds) == sorted(EXPECTED_KINDS[name])  # the converter may order branches either way


def _ops(name: str, kind: str) -> tuple[ir.Graph, list[ir.Op]]:
    graph = import_tflite(corpus_model(name), name=name)
    return graph, [op for op in graph.ops if op.kind == kind]


def test_conv_attributes() -> None:
    _, convs = _ops("conv_relu", "conv2d")
    assert [(op.attrs["stride"], op.attrs["padding"], op.attrs["activation"]) for op in convs] == [
        ((2, 2), "same", "relu"),
        ((1, 1), "valid", "relu"),
    ]
    _, (relu6,) = _ops("conv_relu6", "conv2d")
    assert relu6.attrs["stride"] == (2, 1) and relu6.attrs["activation"] == "relu6"
    graph, dilated = _ops("conv_dilation", "conv2d")
    assert sorted(op.attrs["dilation"] for op in dilated) == [(2, 2), (2, 3)]
    w = graph.tensors[dilated[0].inputs[1]]
    assert w.quant is not None and w.quant.per_channel and w.quant.axis == 0


def test_depthwise_multiplier() -> None:
    _, (m2,) = _ops("depthwise_m2", "depthwise_conv2d")
    assert m2.attrs["depth_multiplier"] == 2
    _, m1 = _ops("depthwise_m1", "depthwise_conv2d")
    assert [op.attrs["depth_multiplier"] for op in m1] == [1, 1]


def test_fully_connected_keep_num_dims() -> None:
    graph, (fc,) = _ops("dense_3d", "fully_connected")
    assert fc.attrs["keep_num_dims"] is True
    assert graph.tensors[fc.outputs[0]].shape == (1, 5, 7)


def test_pool_mean_pad_concat_attributes() -> None:
    _, pools = _ops("max_pool", "max_pool2d")
    assert sorted((op.attrs["filter"], op.attrs["stride"], op.attrs["padding"]) for op in pools) == [
        ((2, 2), (2, 2), "valid"),
        ((3, 3), (2, 2), "same"),
    ]
    graph, means = _ops("global_avg_pool", "mean")
    assert [(op.attrs["axes"], op.attrs["keep_dims"]) for op in means] == [((1, 2), True), ((1, 2), False)]
    assert [graph.tensors[op.outputs[0]].shape for op in means] == [(1, 1, 1, 8), (1, 6)]
    graph, (pad,) = _ops("pad", "pad")
    assert pad.attrs["paddings"] == ((0, 0), (1, 2), (2, 1), (0, 0))
    assert pad.inputs == [graph.inputs[0]]
    graph, (concat,) = _ops("concatenate", "concatenation")
    assert concat.attrs["axis"] == 3 and len(concat.inputs) == 2
    # CONCATENATION shares one scale between its inputs and output.
    scales = {graph.tensors[n].quant.scalar() for n in concat.inputs + concat.outputs}  # type: ignore[union-attr]
    assert len(scales) == 1


@pytest.mark.parametrize("name, tflite_op", [("requantize", "QUANTIZE"), ("padv2", "PADV2"), ("squeeze", "SQUEEZE")])
def test_edited_models_use_the_op(name: str, tflite_op: str) -> None:
    """The edited corpus models really contain the op the converter never emits for them."""
    import tflite

    model = tflite.Model.GetRootAs(corpus_model(name), 0)
    sg = model.Subgraphs(0)
    codes = [model.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode() for i in range(sg.OperatorsLength())]
    assert getattr(tflite.BuiltinOperator, tflite_op) in codes


def test_requantize_is_int8_to_int8() -> None:
    graph, (op,) = _ops("requantize", "quantize")
    src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    assert src.dtype == dst.dtype == "int8" and src.quant is not None and dst.quant is not None
    assert src.quant.scalar() != dst.quant.scalar()


def test_padv2_with_other_value_refused() -> None:
    """PADV2 padding with anything but real 0.0 (the output zero point) is a clean error."""

    def other_value(model) -> None:
        sg = model.subgraphs[0]
        value = sg.tensors[sg.operators[0].inputs[2]]
        model.buffers[value.buffer].data = [(int(value.quantization.zeroPoint[0]) + 1) & 0xFF]

    with pytest.raises(UnsupportedError, match="other than real 0.0"):
        import_tflite(_edit(corpus_model("padv2"), other_value))


def test_float_io_edges() -> None:
    graph = import_tflite(corpus_model("float_io"))
    assert graph.tensors[graph.inputs[0]].dtype == "float32"
    assert graph.tensors[graph.outputs[0]].dtype == "float32"
    assert graph.ops[0].kind == "quantize" and graph.ops[-1].kind == "dequantize"


def test_missing_bias_means_no_bias_input() -> None:
    data = corpus_model("conv_relu")

    def drop_bias(model) -> None:
        op = model.subgraphs[0].operators[0]
        op.inputs = [int(op.inputs[0]), int(op.inputs[1]), -1]

    graph = import_tflite(_edit(data, drop_bias))
    assert len(graph.ops[0].inputs) == 2 and len(graph.ops[1].inputs) == 3


def test_names_unique_and_tensor_names_map() -> None:
    data = corpus_model("residual_add")

    def same_names(model) -> None:
        for tensor in model.subgraphs[0].tensors:
            tensor.name = b"x"

    names = tensor_names(_edit(data, same_names))
    assert len(set(names)) == len(names) and names[0] == "x" and names[1] == "x_1"
    graph = import_tflite(_edit(data, same_names))
    assert set(graph.tensors) <= set(names)


def test_graph_name_is_a_c_identifier(tmp_path: Path) -> None:
    path = tmp_path / "9 my-model.v2.tflite"
    path.write_bytes(corpus_model("conv_relu"))
    assert import_tflite(path).name == "m_9_my_model_v2"
    assert import_tflite(path.read_bytes()).name == "model"
    assert c_identifier("") == "model" and c_identifier("ok_name") == "ok_name"


def test_batch_signature_accepted_other_dynamic_dims_refused() -> None:
    data = corpus_model("conv_relu")
    graph = import_tflite(data)
    assert graph.tensors[graph.inputs[0]].shape[0] == 1

    def dynamic_height(model) -> None:
        sg = model.subgraphs[0]
        sg.tensors[sg.inputs[0]].shapeSignature = [1, -1, 11, 3]

    with pytest.raises(UnsupportedError, match="dynamic shape"):
        import_tflite(_edit(data, dynamic_height))


# ---- error paths: each a one-line TinygenError naming the problem ----------------------------------


def _one_line(exc: pytest.ExceptionInfo[TinygenError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def test_not_a_flatbuffer(tmp_path: Path) -> None:
    path = tmp_path / "notes.tflite"
    path.write_text("this is not a model\n" * 10)
    with pytest.raises(TinygenError) as exc:
        import_tflite(path)
    assert "not a TensorFlow Lite model" in _one_line(exc)
    with pytest.raises(TinygenError, match="not a TensorFlow Lite model"):
        import_tflite(b"TFL")


def test_wrong_file_identifier() -> None:
    data = bytearray(corpus_model("conv_relu"))
    data[4:8] = b"XYZ3"
    with pytest.raises(TinygenError, match="TFL3"):
        import_tflite(bytes(data))


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated(fraction: float) -> None:
    data = corpus_model("kws_dscnn")
    with pytest.raises(TinygenError) as exc:
        import_tflite(data[: int(len(data) * fraction)])
    assert "truncated or corrupt" in _one_line(exc)


def test_corrupt_bytes_never_crash() -> None:
    """Random byte corruption gives a model or a TinygenError, never another exception."""
    data = corpus_model("ic_resnet8")
    rng = np.random.default_rng(1234)
    for trial in range(200):
        corrupt = bytearray(data)
        limit = 8192 if trial % 2 else len(data)  # favour the tables at the start
        for position in rng.integers(0, limit, rng.integers(1, 6)):
            corrupt[position] = rng.integers(0, 256)
        try:
            import_tflite(bytes(corrupt))
        except TinygenError as error:
            assert "\n" not in str(error)


@pytest.mark.parametrize("name", ["float32", "dynamic_range"])
def test_float_model(name: str) -> None:
    with pytest.raises(UnsupportedError) as exc:
        import_tflite(corpus_model(name), name=name)
    message = _one_line(exc)
    assert "float model" in message and "TFLITE_BUILTINS_INT8" in message


def test_unsupported_op_gelu() -> None:
    with pytest.raises(UnsupportedError) as exc:
        import_tflite(corpus_model("gelu"))
    message = _one_line(exc)
    assert "op 1 GELU" in message and "CONV_2D" in message and "DEPTHWISE_CONV_2D" in message


def test_lstm_imports_with_its_state(shared_models: Path) -> None:
    """TFLite Micro's example LSTM: the op, and its VARIABLE output/cell states kept between invocations."""
    graph = import_tflite(shared_models / "trained_lstm_int8.tflite")
    assert graph.ops[0].kind == "unidirectional_sequence_lstm" and len(graph.ops[0].outputs) == 3
    assert [np.asarray(s.initial).dtype.name for s in graph.states] == ["int8", "int16"]



def test_int16_model(shared_models: Path) -> None:
    """TFLite Micro's keyword model: its int16 input comes in through a QUANTIZE (an edge of the int8 core, as a
    uint8 input's), its int32 output out of one (tests/test_op_svdf.py runs it); an int16 graph input read by
    anything else is refused (tests/test_op_svdf.py, test_refusals)."""
    graph = import_tflite(shared_models / "keyword_scrambled_8bit.tflite")
    assert graph.tensor(graph.inputs[0]).dtype == "int16" and graph.ops[0].kind == "quantize"
    assert graph.tensor(graph.outputs[0]).dtype == "int32"


@pytest.mark.parametrize("type_code, message", [
    (7, "is int8 and output .* int16; tinygen runs a convolution with int8 input and output, or int16 input and "
        r"output \(16x8\)"),
    (3, "uint8.*int8 activations only"),
])
def test_non_int8_activation(type_code: int, message: str) -> None:
    """A conv output retyped: uint8 is refused at import, int16 (an int8 -> int16 conv, neither int8 nor 16x8) by
    the conv's check."""
    data = corpus_model("conv_relu")

    def retype(model) -> None:
        sg = model.subgraphs[0]
        sg.tensors[sg.operators[0].outputs[0]].type = type_code

    with pytest.raises(UnsupportedError, match=message):
        import_tflite(_edit(data, retype))


def test_multiple_subgraphs() -> None:
    def duplicate(model) -> None:
        model.subgraphs.append(copy.deepcopy(model.subgraphs[0]))

    with pytest.raises(UnsupportedError, match="2 subgraphs"):
        import_tflite(_edit(corpus_model("conv_relu"), duplicate))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TinygenError, match="no such file"):
        import_tflite(tmp_path / "absent.tflite")
