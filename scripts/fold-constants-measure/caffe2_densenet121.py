# Hand measurement for fold-constants (never run by tests); see measure.sh.
# Caffe2-era DenseNet-121 as the ONNX model zoo's opset-10 file is laid out: Caffe BatchNorm + Scale become
# BatchNormalization + Mul + Add whose per-channel constants pass through Unsqueeze(axes=[1,2]) (what the
# ONNX version converter inserts for opset-6 broadcast/axis), random weights.
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
ir = int(sys.argv[1]); opset = int(sys.argv[2]); out = sys.argv[3]; small = len(sys.argv) > 4
rng = np.random.default_rng(0)
nodes, inits = [], []
cnt = [0]
def uid(p): cnt[0] += 1; return f"{p}_{cnt[0]}"
def init(name, arr): inits.append(numpy_helper.from_array(arr.astype(np.float32), name)); return name
def conv(x, cin, cout, k, s=1, p=0, bias=False):
    w = init(uid("w"), rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k)))
    ins = [x, w] + ([init(uid("b"), rng.normal(0, .1, cout))] if bias else [])
    y = uid("conv"); nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)); return y
def bn_scale_relu(x, c):
    y = uid("bn")
    nodes.append(helper.make_node("BatchNormalization", [x, init(uid("s"), np.ones(c)), init(uid("bb"), np.zeros(c)),
        init(uid("m"), rng.normal(0, .2, c)), init(uid("v"), rng.uniform(.5, 1.5, c))], [y], epsilon=1e-5))
    g, gu, b, bu, m, a, r = uid("gamma"), uid("gu"), uid("beta"), uid("bu"), uid("mul"), uid("add"), uid("relu")
    init(g, rng.uniform(.5, 1.5, c)); init(b, rng.normal(0, .2, c))
    nodes.append(helper.make_node("Unsqueeze", [g], [gu], axes=[1, 2]))
    nodes.append(helper.make_node("Mul", [y, gu], [m]))
    nodes.append(helper.make_node("Unsqueeze", [b], [bu], axes=[1, 2]))
    nodes.append(helper.make_node("Add", [m, bu], [a]))
    nodes.append(helper.make_node("Relu", [a], [r])); return r
size = 64 if small else 224
blocks = [2, 2] if small else [6, 12, 24, 16]
x = conv("data", 3, 64, 7, 2, 3)
x = bn_scale_relu(x, 64)
p = uid("pool"); nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])); x = p
c = 64
for bi, n in enumerate(blocks):
    for _ in range(n):
        h = bn_scale_relu(x, c); h = conv(h, c, 128, 1); h = bn_scale_relu(h, 128); h = conv(h, 128, 32, 3, 1, 1)
        y = uid("concat"); nodes.append(helper.make_node("Concat", [x, h], [y], axis=1)); x = y; c += 32
    if bi < len(blocks) - 1:
        h = bn_scale_relu(x, c); h = conv(h, c, c // 2, 1); c //= 2
        p = uid("pool"); nodes.append(helper.make_node("AveragePool", [h], [p], kernel_shape=[2, 2], strides=[2, 2])); x = p
x = bn_scale_relu(x, c)
p = uid("pool"); nodes.append(helper.make_node("GlobalAveragePool", [x], [p]))
f = conv(p, c, 1000, 1, bias=True)
nodes.append(helper.make_node("Softmax", [f], ["softmax"], axis=1) if opset < 13 else helper.make_node("Flatten", [f], ["softmax"]))
inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, size, size])]
if ir < 4: inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
g = helper.make_graph(nodes, "densenet121_caffe2", inputs, [helper.make_tensor_value_info("softmax", TensorProto.FLOAT, [1, 1000, 1, 1])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]); m.ir_version = ir
onnx.save(m, out); print(out, len(nodes), "nodes")
