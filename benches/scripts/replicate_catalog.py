"""Replicates a catalog's rows to N distinct patch ids (same files), for throughput benchmarks."""
import sys
import pyarrow as pa
import pyarrow.parquet as pq

src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = pq.read_table(src).to_pylist()
out = []
for i in range(n):
    r = dict(rows[i % len(rows)])
    r["patch_id"] = f"{r['patch_id']}_copy{i:06d}"
    r["split"] = "train"
    out.append(r)
pq.write_table(pa.Table.from_pylist(out), dst)
