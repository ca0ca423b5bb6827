/*!
Deterministic sampling: every random choice is a function of (seed, stable id), never of iteration order.

# Brief overview
- [`id_hash`] / [`id_unit`]: a platform- and version-stable 64-bit hash of an id under a seed, and the same as a
  number in `[0, 1)`.
- [`keep_fraction`]: whether an id is in a `--frac` subsample. Filtering or reordering the input never changes
  which ids are kept, and a smaller fraction's ids are always a subset of a larger one's (same seed).
- [`Split`] and [`SplitRatios`]: train/validation/test from a catalog value or by ratio of the id hash.
- [`ShardSpec`]: `--shard i/n` work partitions, defaulting from `EOFORGE_SHARD` or SLURM array variables.
- [`sample_blocks`]: training blocks from a tile (a count, a fraction or a grid; class balancing), seeded from
  (seed, tile name) so that a tile's samples never depend on the order or the set of tiles run.

# Example
```
use eoforge_sampling::{keep_fraction, ShardSpec};
let ids = ["S2A_MSIL2A_20170617T113321_4_55", "S2A_MSIL2A_20170617T113321_36_85"];
let kept: Vec<_> = ids.iter().filter(|id| keep_fraction(id, 0.5, 42)).collect();
let shard: ShardSpec = "1/4".parse().unwrap();
assert!(shard.owns(5) && !shard.owns(6)); // item 5 goes to shard 5 % 4 = 1
# let _ = kept;
```
*/
#![deny(missing_docs)]

mod blocks;
mod hash;
mod shard;
mod split;

pub use crate::blocks::{Block, BlockError, BlockSampling, BlockSpec, sample_blocks};
pub use crate::hash::{id_hash, id_unit, keep_fraction};
pub use crate::shard::{SHARD_ENV, ShardError, ShardSpec};
pub use crate::split::{RatiosError, Split, SplitError, SplitRatios};
