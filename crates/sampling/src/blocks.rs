//! Block sampling over a tile: which `block × block` windows (1 × 1 for pixel models) become training samples —
//! a number per tile, a fraction, or a regular grid, optionally balanced over classes. Every choice is seeded from
//! (seed, tile name) alone, so a tile's samples never depend on the order tiles run in or on which other tiles were
//! skipped.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::{id_hash, id_unit};

/// How blocks are drawn from a tile.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BlockSampling {
    /// This many distinct valid blocks per tile (fewer when the tile has fewer).
    Count(usize),
    /// Each valid block position of the non-overlapping lattice with this probability.
    Fraction(f64),
    /// Every valid block whose top-left corner lies on a lattice of this step (pixels).
    Grid(usize),
}

/// A block sampling plan.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    /// Block side in pixels (1 for pixel models).
    pub block: usize,
    /// How many.
    pub sampling: BlockSampling,
    /// With `Count`: as many blocks of each class (the label at the block's centre) as the others, up to the count.
    #[serde(default)]
    pub balance: bool,
}

/// A sampled block: its top-left pixel and the class at its centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Block {
    /// Row of the top-left pixel.
    pub row: usize,
    /// Column of the top-left pixel.
    pub col: usize,
    /// The label at the block's centre.
    pub class: u32,
}

/// A bad sampling plan.
#[derive(Debug, thiserror::Error)]
#[error("block sampling: {0}")]
pub struct BlockError(pub String);

/// A small deterministic generator (SplitMix64) seeded from (seed, tile).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Samples blocks from a `height × width` tile named `tile`. `label(row, col)` gives a pixel's class, or `None`
/// where the pixel must not be sampled (nodata, ignored, outside the AOI): a block is valid when all its pixels
/// have a label. Results are sorted by position.
pub fn sample_blocks(
    seed: u64,
    tile: &str,
    height: usize,
    width: usize,
    spec: &BlockSpec,
    label: impl Fn(usize, usize) -> Option<u32>,
) -> Result<Vec<Block>, BlockError> {
    let b = spec.block;
    if b == 0 {
        return Err(BlockError("the block size must be at least 1".into()));
    }
    if height < b || width < b {
        return Ok(Vec::new());
    }
    let valid = |row: usize, col: usize| -> Option<Block> {
        for r in row..row + b {
            for c in col..col + b {
                label(r, c)?;
            }
        }
        label(row + b / 2, col + b / 2).map(|class| Block { row, col, class })
    };
    let mut out: Vec<Block> = match spec.sampling {
        BlockSampling::Grid(step) => {
            if step == 0 {
                return Err(BlockError("the grid step must be at least 1".into()));
            }
            (0..=height - b)
                .step_by(step)
                .flat_map(|r| (0..=width - b).step_by(step).map(move |c| (r, c)))
                .filter_map(|(r, c)| valid(r, c))
                .collect()
        }
        BlockSampling::Fraction(f) => {
            if !(f > 0.0 && f <= 1.0) {
                return Err(BlockError(format!("the fraction {f} is not in (0, 1]")));
            }
            let mut kept = Vec::new();
            for r in (0..=height - b).step_by(b) {
                for c in (0..=width - b).step_by(b) {
                    if id_unit(&format!("{tile}/{r}/{c}"), seed) < f
                        && let Some(block) = valid(r, c)
                    {
                        kept.push(block);
                    }
                }
            }
            kept
        }
        BlockSampling::Count(n) => count_blocks(seed, tile, height, width, b, n, spec.balance, &valid),
    };
    out.sort_unstable();
    Ok(out)
}

/// `Count` sampling by rejection: random top-left pixels, distinct, valid, and (balanced) within their class's
/// quota; stops after `n` blocks or 50 draws per wanted block.
#[allow(clippy::too_many_arguments)]
fn count_blocks(
    seed: u64,
    tile: &str,
    height: usize,
    width: usize,
    b: usize,
    n: usize,
    balance: bool,
    valid: &dyn Fn(usize, usize) -> Option<Block>,
) -> Vec<Block> {
    let mut draws = Draws(id_hash(tile, seed));
    let (rows, cols) = (height - b + 1, width - b + 1);
    let mut seen = BTreeSet::new();
    let mut found: Vec<Block> = Vec::new();
    // Balanced: draw a pool of candidates, then take classes in turn.
    let wanted = if balance { n.saturating_mul(4) } else { n };
    let budget = wanted.saturating_mul(50).max(1000);
    for _ in 0..budget {
        if found.len() >= wanted || seen.len() >= rows * cols {
            break;
        }
        let (r, c) = (draws.below(rows), draws.below(cols));
        if !seen.insert((r, c)) {
            continue;
        }
        if let Some(block) = valid(r, c)
            && !found.iter().any(|f| f.row.abs_diff(r) < b && f.col.abs_diff(c) < b)
        {
            found.push(block);
        }
    }
    if !balance {
        return found;
    }
    let mut by_class: BTreeMap<u32, Vec<Block>> = BTreeMap::new();
    for block in found {
        by_class.entry(block.class).or_default().push(block);
    }
    let mut out = Vec::new();
    let mut depth = 0;
    while out.len() < n && by_class.values().any(|v| v.len() > depth) {
        for blocks in by_class.values() {
            if let Some(block) = blocks.get(depth)
                && out.len() < n
            {
                out.push(*block);
            }
        }
        depth += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 60 × 80 tile: class 1 in the left quarter, 2 elsewhere, nothing (nodata) in rows 0–9.
    fn label(r: usize, c: usize) -> Option<u32> {
        (r >= 10).then_some(if c < 20 { 1 } else { 2 })
    }

    #[test]
    fn counts_are_exact_distinct_valid_and_do_not_overlap() {
        let spec = BlockSpec { block: 4, sampling: BlockSampling::Count(40), balance: false };
        let blocks = sample_blocks(7, "33N_465_5079", 60, 80, &spec, label).expect("sample");
        assert_eq!(blocks.len(), 40);
        for (i, a) in blocks.iter().enumerate() {
            assert!(a.row >= 10 && a.row + 4 <= 60 && a.col + 4 <= 80, "{a:?}");
            for z in &blocks[i + 1..] {
                assert!(a.row.abs_diff(z.row) >= 4 || a.col.abs_diff(z.col) >= 4, "{a:?} overlaps {z:?}");
            }
        }
    }

    #[test]
    fn a_tile_s_samples_depend_only_on_the_seed_and_its_name() {
        let spec = BlockSpec { block: 1, sampling: BlockSampling::Count(25), balance: false };
        let tiles = ["33N_465_5079", "33N_465_5080", "33N_466_5079"];
        let run = |order: &[&str]| -> BTreeMap<String, Vec<Block>> {
            order
                .iter()
                .map(|t| ((*t).to_owned(), sample_blocks(3, t, 60, 80, &spec, label).expect("sample")))
                .collect()
        };
        let all = run(&tiles);
        let shuffled = run(&[tiles[2], tiles[0], tiles[1]]);
        let without_one = run(&[tiles[2], tiles[0]]);
        assert_eq!(all, shuffled);
        for (tile, blocks) in &without_one {
            assert_eq!(&all[tile], blocks);
        }
        assert_ne!(all[tiles[0]], all[tiles[1]], "tiles get their own draws");
        assert_ne!(all[tiles[0]], sample_blocks(4, tiles[0], 60, 80, &spec, label).expect("sample"), "seeds matter");
    }

    #[test]
    fn balanced_counts_take_classes_in_turn() {
        let spec = BlockSpec { block: 1, sampling: BlockSampling::Count(30), balance: true };
        let blocks = sample_blocks(1, "t", 60, 80, &spec, label).expect("sample");
        let ones = blocks.iter().filter(|b| b.class == 1).count();
        assert_eq!((blocks.len(), ones), (30, 15), "class 1 covers a quarter of the tile, half of the samples");
        let plain = BlockSpec { balance: false, ..spec };
        let ones =
            sample_blocks(1, "t", 60, 80, &plain, label).expect("sample").iter().filter(|b| b.class == 1).count();
        assert!(ones < 13, "unbalanced, about a quarter: {ones}");
    }

    #[test]
    fn fractions_and_grids() {
        let grid = BlockSpec { block: 2, sampling: BlockSampling::Grid(10), balance: false };
        let blocks = sample_blocks(0, "t", 60, 80, &grid, label).expect("grid");
        assert_eq!(blocks.len(), 5 * 8, "rows 10..50 step 10, columns 0..70 step 10");
        assert!(blocks.iter().all(|b| b.row % 10 == 0 && b.col % 10 == 0));
        let frac = BlockSpec { block: 1, sampling: BlockSampling::Fraction(0.25), balance: false };
        let blocks = sample_blocks(0, "t", 60, 80, &frac, label).expect("fraction");
        let share = blocks.len() as f64 / (50.0 * 80.0);
        assert!((share - 0.25).abs() < 0.03, "{share}");
        let smaller = BlockSpec { sampling: BlockSampling::Fraction(0.1), ..frac };
        let subset = sample_blocks(0, "t", 60, 80, &smaller, label).expect("fraction");
        assert!(subset.iter().all(|b| blocks.contains(b)), "a smaller fraction is a subset");
        for bad in [BlockSampling::Fraction(0.0), BlockSampling::Fraction(1.5), BlockSampling::Grid(0)] {
            assert!(
                sample_blocks(0, "t", 60, 80, &BlockSpec { block: 1, sampling: bad, balance: false }, label).is_err()
            );
        }
        assert!(sample_blocks(0, "t", 3, 3, &BlockSpec { block: 4, ..grid }, label).expect("small").is_empty());
    }
}
