# Hand measurement for fold-constants (never run by tests); see measure.sh.
# BN-Inception (inception_v2) laid out like the Caffe2-era DenseNet rebuild: every conv is
# Conv -> BatchNormalization -> Mul(Unsqueeze(gamma)) -> Add(Unsqueeze(beta)) -> Relu. Random weights.
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
ir = int(sys.argv[1]); opset = int(sys.argv[2]); out = sys.argv[3]
rng = np.random.default_rng(0)
nodes, inits = [], []; cnt = [0]
def uid(p): cnt[0] += 1; return f"{p}_{cnt[0]}"
def init(name, arr): inits.append(numpy_helper.from_array(arr.astype(np.float32), name)); return name
def unit(x, cin, cout, k, s=1):
    p = (k - 1) // 2
    w = init(uid("w"), rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k))); b = init(uid("b"), np.zeros(cout))
    y = uid("conv"); nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4))
    z = uid("bn"); c = cout
    nodes.append(helper.make_node("BatchNormalization", [y, init(uid("s"), np.ones(c)), init(uid("bb"), np.zeros(c)),
        init(uid("m"), rng.normal(0, .2, c)), init(uid("v"), rng.uniform(.5, 1.5, c))], [z], epsilon=1e-5))
    g, gu, bt, bu, m, a, r = uid("gamma"), uid("gu"), uid("beta"), uid("bu"), uid("mul"), uid("add"), uid("relu")
    init(g, rng.uniform(.5, 1.5, c)); init(bt, rng.normal(0, .2, c))
    nodes.extend([helper.make_node("Unsqueeze", [g], [gu], axes=[1, 2]), helper.make_node("Mul", [z, gu], [m]),
              helper.make_node("Unsqueeze", [bt], [bu], axes=[1, 2]), helper.make_node("Add", [m, bu], [a]), helper.make_node("Relu", [a], [r])])
    return r
def pool(x, kind, k, s, p):
    y = uid("pool"); nodes.append(helper.make_node(kind, [x], [y], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)); return y
def inception(x, cin, c1, r3, c3, rd, cd, pk, pp, stride=1):
    outs = []
    if c1: outs.append(unit(x, cin, c1, 1))
    outs.append(unit(unit(x, cin, r3, 1), r3, c3, 3, stride))
    outs.append(unit(unit(unit(x, cin, rd, 1), rd, cd, 3), cd, cd, 3, stride))
    if stride == 1: outs.append(unit(pool(x, pk, 3, 1, 1), cin, pp, 1))
    else: outs.append(pool(x, "MaxPool", 3, 2, 1))
    y = uid("concat"); nodes.append(helper.make_node("Concat", outs, [y], axis=1))
    return y, c1 + c3 + cd + (pp if stride == 1 else cin)
x = unit("data", 3, 64, 7, 2); x = pool(x, "MaxPool", 3, 2, 1)
x = unit(unit(x, 64, 64, 1), 64, 192, 3); x = pool(x, "MaxPool", 3, 2, 1); c = 192
for cfg in [(64, 64, 64, 64, 96, "AveragePool", 32), (64, 64, 96, 64, 96, "AveragePool", 64), (0, 128, 160, 64, 96, "", 0, 2),
            (224, 64, 96, 96, 128, "AveragePool", 128), (192, 96, 128, 96, 128, "AveragePool", 128), (160, 128, 160, 128, 160, "AveragePool", 128),
            (96, 128, 192, 160, 192, "AveragePool", 128), (0, 128, 192, 192, 256, "", 0, 2),
            (352, 192, 320, 160, 224, "AveragePool", 128), (352, 192, 320, 192, 224, "MaxPool", 128)]:
    x, c = inception(x, c, *cfg)
y = uid("gap"); nodes.append(helper.make_node("GlobalAveragePool", [x], [y]))
f = uid("flat"); nodes.append(helper.make_node("Flatten", [y], [f]))
g = uid("fc"); nodes.append(helper.make_node("Gemm", [f, init(uid("fcw"), rng.normal(0, .02, (1000, c))), init(uid("fcb"), np.zeros(1000))], [g], transB=1))
nodes.append(helper.make_node("Softmax", [g], ["prob"]))
inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 224, 224])]
if ir < 4: inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
m = helper.make_model(helper.make_graph(nodes, "bn_inception_caffe2", inputs, [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1000])], inits),
                      opset_imports=[helper.make_opsetid("", opset)]); m.ir_version = ir
onnx.checker.check_model(m); onnx.save(m, out); print(out, len(nodes), "nodes")
