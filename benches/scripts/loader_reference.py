"""The Python reference loader: webdataset + numpy, one epoch of a shard set's train split into normalised,
augmented float32 batches, as a PyTorch DataLoader with `workers` worker processes would build them (each worker
reads its share of the shards; batches stay in the workers, so no inter-process copy is charged to Python).

usage: loader_reference.py SHARD_SET WORKERS [BATCH] [SHUFFLE_BUFFER]
Prints samples, seconds and samples/s as JSON.
"""

import io
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import webdataset as wds


def worker(args):
    urls, input_name, mean, std, batch, shuffle, seed = args
    rng = np.random.default_rng(seed)
    pipeline = wds.WebDataset(urls, shardshuffle=False).shuffle(shuffle, rng=None)
    count = 0
    pending = []
    for sample in pipeline:
        x = np.load(io.BytesIO(sample[f"{input_name}.npy"])).astype(np.float32)
        x = (x - mean) / std
        k = int(rng.integers(8))
        if k >= 4:
            x = x[:, :, ::-1]
        x = np.rot90(x, k % 4, axes=(1, 2))
        pending.append(np.ascontiguousarray(x))
        if len(pending) == batch:
            np.stack(pending)
            count += len(pending)
            pending = []
    if pending:
        np.stack(pending)
        count += len(pending)
    return count


def main():
    root, workers = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    shuffle = int(sys.argv[4]) if len(sys.argv) > 4 else 512
    index = json.load(open(os.path.join(root, "index.json")))
    stats = json.load(open(os.path.join(root, "stats.json")))
    input_name = index.get("input", "s2")
    mean = np.array(stats["mean"], dtype=np.float32)[:, None, None]
    std = np.array([s if s > 0 else 1.0 for s in stats["std"]], dtype=np.float32)[:, None, None]
    urls = [os.path.join(root, "train", s["shard"] + ".tar") for s in index["splits"]["train"]["shards"] if s["samples"]]
    parts = [(urls[i::workers], input_name, mean, std, batch, shuffle, i) for i in range(workers)]
    start = time.perf_counter()
    with mp.Pool(workers) as pool:
        samples = sum(pool.map(worker, [p for p in parts if p[0]]))
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": samples, "seconds": seconds, "samples_per_s": samples / seconds}))


if __name__ == "__main__":
    main()
