"""TerraTorch's PrithviViT in PyTorch on the CPU, timed as `vit-step` times eoforge's: forward (no grad) and one
fine-tuning step (a 1×1 convolution head over the last block's tokens, MSE, AdamW) with the encoder frozen or
trained. Prints one JSON line: {"mode", "frames", "seconds", "peak_rss_mib"}.

usage: vit_reference.py MODE FRAMES STEPS   (MODE: forward | frozen | trained)"""
import glob, importlib.util, json, resource, sys, time

import torch

mode, frames, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
path = glob.glob(sys.prefix + "/lib/python3*/site-packages/terratorch/models/backbones/prithvi_mae.py")[0]
spec = importlib.util.spec_from_file_location("prithvi_mae", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
vit = module.PrithviViT(img_size=224, patch_size=(1, 16, 16), num_frames=frames, in_chans=6, embed_dim=768,
                        depth=12, num_heads=12, mlp_ratio=4.0)
x = torch.randn(4, 6, frames, 224, 224)
head = torch.nn.Conv2d(768 * frames, 1, 1)
target = torch.randn(4, 1, 14, 14)
if mode == "frozen":
    for p in vit.parameters():
        p.requires_grad_(False)
params = [p for p in list(vit.parameters()) + list(head.parameters()) if p.requires_grad]
optim = torch.optim.AdamW(params, lr=1e-4)


def once():
    if mode == "forward":
        with torch.no_grad():
            vit.forward_features(x)
        return
    tokens = vit.forward_features(x)[-1][:, 1:, :]
    maps = tokens.reshape(4, frames, 14, 14, 768).permute(0, 1, 4, 2, 3).reshape(4, frames * 768, 14, 14)
    loss = torch.nn.functional.mse_loss(head(maps), target)
    optim.zero_grad()
    loss.backward()
    optim.step()


once()  # warm-up
start = time.perf_counter()
for _ in range(steps):
    once()
seconds = (time.perf_counter() - start) / steps
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "frames": frames, "seconds": seconds, "peak_rss_mib": rss}))
