"""Straightforward Python reference for `eoforge-prep shard`: rasterio + numpy + webdataset, one process.

Reads each patch's 12 Sentinel-2 bands, upsamples 20 m / 60 m bands to the 10 m grid with bilinear resampling,
stacks them as uint16 (12, 120, 120), encodes the 19-class multi-hot labels, and writes WebDataset tar shards of
~target MB. Prints one JSON line with the figures.
usage: shard_reference.py CATALOG.parquet OUT_DIR TARGET_MB
"""
import json, os, resource, sys, time

import numpy as np
import pyarrow.parquet as pq
import rasterio
from rasterio.enums import Resampling
import webdataset as wds

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
BEN19 = json.loads(os.environ["BEN19_JSON"])
BEN43_TO_19 = json.loads(os.environ["BEN43_TO_19_JSON"])

def main():
    catalog, out, target_mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    start = time.time()
    table = pq.read_table(catalog).to_pylist()
    os.makedirs(out, exist_ok=True)
    written = 0
    with wds.ShardWriter(os.path.join(out, "train-%06d.tar"), maxsize=int(target_mb * 1e6), verbose=0) as sink:
        for row in table:
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
    seconds = time.time() - start
    print(json.dumps({"patches": len(table), "seconds": seconds, "tensor_mb": written / 1e6,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

main()
