"""The PyTorch state dict behind an ONNX export of a torch module, as safetensors.

torch.onnx keeps a parameter's name when it stays an initializer, aliases equal ones through Identity nodes,
and stores Linear weights transposed under anonymous names (onnx::MatMul_N) on MatMul nodes named after the
module path (/segformer/stages.0/blocks.0/attention/q_proj/MatMul); eval-mode BatchNorm is folded into the
convolution before it. This recovers `module.path.weight` (Linear: (out, in)), `.bias`, and, for a folded
convolution named with --folded CONV=BN, the convolution's weight with an identity BatchNorm holding its bias.

usage: onnx_state_dict.py MODEL.onnx OUT.safetensors [--folded decode_head.linear_fuse=decode_head.batch_norm]
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

model = onnx.load(sys.argv[1])
folded = dict(a.split("=", 1) for a in sys.argv[4:] if "=" in a) if "--folded" in sys.argv else {}
values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
for node in model.graph.node:  # aliases of equal tensors
    if node.op_type == "Identity" and node.input[0] in values:
        values[node.output[0]] = values[node.input[0]]
state = {k: v for k, v in values.items() if not k.startswith("onnx::") and "/" not in k}


def module_path(node):
    return ".".join(node.name.strip("/").split("/")[:-1])


for node in model.graph.node:
    if node.op_type == "MatMul" and node.input[1].startswith("onnx::") and node.input[1] in values:
        state[module_path(node) + ".weight"] = np.ascontiguousarray(values[node.input[1]].T)
    if node.op_type == "Conv" and node.input[1].startswith("onnx::") and node.input[1] in values:
        path = module_path(node)
        state[path + ".weight"] = values[node.input[1]]
        bias = values[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        if path in folded:
            bn, channels = folded[path], values[node.input[1]].shape[0]
            state[bn + ".weight"] = np.ones(channels, np.float32)
            state[bn + ".bias"] = bias if bias is not None else np.zeros(channels, np.float32)
            state[bn + ".running_mean"] = np.zeros(channels, np.float32)
            # eval BatchNorm divides by sqrt(var + eps): var = 1 - eps makes it the identity.
            state[bn + ".running_var"] = np.full(channels, 1.0 - 1e-5, np.float32)
        elif bias is not None:
            state[path + ".bias"] = bias
save_file({k: np.ascontiguousarray(v.astype(np.float32)) for k, v in state.items()}, sys.argv[2])
print(len(state))
