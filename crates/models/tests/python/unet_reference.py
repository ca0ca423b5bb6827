"""A U-Net written in numpy alone, with eoforge's architecture and tensor names (docs/weights.md), to check weights
shared through safetensors in both directions. PyTorch is not needed.

  unet_reference.py forward CONFIG.json WEIGHTS.safetensors INPUT.f32 N H W OUT.f32
      Runs the network (inference: batch norm with running statistics) on INPUT (float32 N×C×H×W, C-order) and
      writes the logits (float32 N×classes×H×W). A `model.` prefix on every name is accepted.
  unet_reference.py init CONFIG.json SEED WEIGHTS.safetensors [PREFIX [DTYPE]]
      Writes random weights of that architecture under PyTorch's names (with PREFIX before each), running
      statistics and `num_batches_tracked` (int64) as PyTorch's BatchNorm2d saves them; DTYPE float32 (default)
      or float16, as a half-precision checkpoint holds them.

CONFIG.json is the U-Net's config as eoforge serialises it: in_channels, classes, depth, base_width,
norm {kind: batch | group, groups}.
"""
import json
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.numpy import load_file, save_file

EPS = 1e-5


def widths(cfg):
    return [cfg["base_width"] << i for i in range(cfg["depth"] + 1)]


def blocks(cfg):
    """(name, in, out) of every two-convolution block."""
    w = widths(cfg)
    out, channels = [], cfg["in_channels"]
    for i in range(cfg["depth"]):
        out.append((f"down.{i}", channels, w[i]))
        channels = w[i]
    out.append(("bottom", channels, w[-1]))
    for i in range(cfg["depth"]):
        out.append((f"up_blocks.{i}", 2 * w[i], w[i]))
    return out


def shapes(cfg):
    """Every tensor's name and shape (PyTorch's layout; num_batches_tracked left out)."""
    norm = cfg.get("norm", {"kind": "batch"})["kind"]
    s = {}
    for name, a, b in blocks(cfg):
        s[f"{name}.conv1.weight"] = (b, a, 3, 3)
        s[f"{name}.conv2.weight"] = (b, b, 3, 3)
        for k in ("norm1", "norm2"):
            s[f"{name}.{k}.weight"] = (b,)
            s[f"{name}.{k}.bias"] = (b,)
            if norm == "batch":
                s[f"{name}.{k}.running_mean"] = (b,)
                s[f"{name}.{k}.running_var"] = (b,)
    w = widths(cfg)
    for i in range(cfg["depth"]):
        s[f"up.{i}.weight"] = (w[i + 1], w[i], 2, 2)  # ConvTranspose2d: (in, out, kh, kw)
        s[f"up.{i}.bias"] = (w[i],)
    s["head.weight"] = (cfg["classes"], w[0], 1, 1)
    s["head.bias"] = (cfg["classes"],)
    return s


def conv3x3(x, w):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(xp, (3, 3), axis=(2, 3))  # n, c, h, w, 3, 3
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True)


def norm(x, t, name, cfg):
    n, c, h, w = x.shape
    kind = cfg.get("norm", {"kind": "batch"})
    if kind["kind"] == "batch":
        mean = t[f"{name}.running_mean"].reshape(1, c, 1, 1)
        var = t[f"{name}.running_var"].reshape(1, c, 1, 1)
        y = (x - mean) / np.sqrt(var + EPS)
    else:
        g = kind["groups"]
        xg = x.reshape(n, g, c // g, h, w)
        mean = xg.mean(axis=(2, 3, 4), keepdims=True)
        var = xg.var(axis=(2, 3, 4), keepdims=True)
        y = ((xg - mean) / np.sqrt(var + EPS)).reshape(n, c, h, w)
    return y * t[f"{name}.weight"].reshape(1, c, 1, 1) + t[f"{name}.bias"].reshape(1, c, 1, 1)


def block(x, t, name, cfg):
    x = np.maximum(norm(conv3x3(x, t[f"{name}.conv1.weight"]), t, f"{name}.norm1", cfg), 0)
    return np.maximum(norm(conv3x3(x, t[f"{name}.conv2.weight"]), t, f"{name}.norm2", cfg), 0)


def maxpool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def up2(x, w, b):
    n, _, h, wd = x.shape
    y = np.einsum("ncij,coab->noiajb", x, w, optimize=True).reshape(n, w.shape[1], 2 * h, 2 * wd)
    return y + b.reshape(1, -1, 1, 1)


def forward(x, t, cfg):
    skips = []
    for i in range(cfg["depth"]):
        x = block(x, t, f"down.{i}", cfg)
        skips.append(x)
        x = maxpool2(x)
    x = block(x, t, "bottom", cfg)
    for i in reversed(range(cfg["depth"])):
        x = block(np.concatenate([skips[i], up2(x, t[f"up.{i}.weight"], t[f"up.{i}.bias"])], axis=1), t,
                  f"up_blocks.{i}", cfg)
    head = t["head.weight"]
    return np.einsum("nchw,oc->nohw", x, head[:, :, 0, 0]) + t["head.bias"].reshape(1, -1, 1, 1)


def main():
    mode = sys.argv[1]
    cfg = json.load(open(sys.argv[2]))
    if mode == "forward":
        weights, inp, n, h, w, out = sys.argv[3:9]
        t = {k[len("model."):] if k.startswith("model.") else k: v.astype(np.float64)
             for k, v in load_file(weights).items()}
        for name, shape in shapes(cfg).items():
            if name not in t:
                sys.exit(f"{weights}: no tensor `{name}`")
            if tuple(t[name].shape) != shape:
                sys.exit(f"{weights}: `{name}` has shape {t[name].shape}, expected {shape}")
        x = np.fromfile(inp, dtype=np.float32).reshape(int(n), cfg["in_channels"], int(h), int(w)).astype(np.float64)
        forward(x, t, cfg).astype(np.float32).tofile(out)
    elif mode == "init":
        seed, weights = int(sys.argv[3]), sys.argv[4]
        prefix = sys.argv[5] if len(sys.argv) > 5 else ""
        dtype = np.dtype(sys.argv[6] if len(sys.argv) > 6 else "float32")
        rng = np.random.default_rng(seed)
        t = {}
        for name, shape in shapes(cfg).items():
            if name.endswith("running_var"):
                v = rng.uniform(0.5, 1.5, shape)
            elif name.endswith("running_mean"):
                v = rng.normal(0.0, 0.2, shape)
            elif len(shape) == 1:
                v = rng.normal(1.0 if ".norm" in name and name.endswith("weight") else 0.0, 0.1, shape)
            else:
                fan_in = np.prod(shape[1:]) if not name.startswith("up.") else shape[0] * shape[2] * shape[3]
                v = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            t[prefix + name] = v.astype(dtype)
            if name.endswith("running_var"):
                t[prefix + name.replace("running_var", "num_batches_tracked")] = np.array(7, dtype=np.int64)
        save_file(t, weights, metadata={"format": "pt"})
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
