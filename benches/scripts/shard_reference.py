"""Straightforward Python reference for `eoforge-prep shard`: rasterio + numpy + webdataset in a process pool.

Each of WORKERS processes takes a contiguous part of the catalog, reads each patch's 12 Sentinel-2 bands,
upsamples 20 m / 60 m bands to the 10 m grid with bilinear resampling, stacks them as uint16 (12, 120, 120),
encodes the 19-class multi-hot labels and writes its own WebDataset tar shards of ~target MB. This is how the
reference workflows run conversion on one node (one process per core). Prints one JSON line with the figures.
usage: shard_reference.py CATALOG.parquet OUT_DIR TARGET_MB [WORKERS]
"""
import json, multiprocessing, os, resource, sys, time

import numpy as np
import pyarrow.parquet as pq
import rasterio
from rasterio.enums import Resampling
import webdataset as wds

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
BEN19 = json.loads(os.environ["BEN19_JSON"])
BEN43_TO_19 = json.loads(os.environ["BEN43_TO_19_JSON"])


def convert_part(job):
    rows, out, target_mb, worker = job
    written = 0
    pattern = os.path.join(out, f"train-{worker:02d}-%06d.tar")
    with wds.ShardWriter(pattern, maxsize=int(target_mb * 1e6), verbose=0) as sink:
        for row in rows:
            planes = []
            for band in BANDS:
                path = row["s2_" + band].removeprefix("file://")
                with rasterio.open(path) as src:
                    planes.append(src.read(1, out_shape=(120, 120), resampling=Resampling.bilinear))
            s2 = np.stack(planes).astype(np.uint16)
            labels = np.zeros(19, dtype=np.uint8)
            for name in row["labels"]:
                cls = BEN19.index(name) if name in BEN19 else BEN43_TO_19.get(name)
                if cls is not None:
                    labels[cls] = 1
            sink.write({"__key__": row["patch_id"], "s2.npy": s2, "labels.npy": labels,
                        "json": {"patch_id": row["patch_id"], "labels": row["labels"]}})
            written += s2.nbytes + labels.nbytes
    return written, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    catalog, out, target_mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else os.cpu_count()
    start = time.time()
    table = pq.read_table(catalog).to_pylist()
    os.makedirs(out, exist_ok=True)
    step = -(-len(table) // workers)
    jobs = [(table[i * step:(i + 1) * step], out, target_mb, i) for i in range(workers)]
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(convert_part, jobs)
    seconds = time.time() - start
    print(json.dumps({"patches": len(table), "workers": workers, "seconds": seconds,
                      "tensor_mb": sum(r[0] for r in results) / 1e6,
                      "peak_rss_mib_per_worker": max(r[1] for r in results) / 1024}))


if __name__ == "__main__":
    main()
