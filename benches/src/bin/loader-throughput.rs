//! The training loader alone: one epoch of a shard set's `train` split into normalised, augmented f32 batches,
//! as `eoforge-train fit` feeds them, without a model. Prints samples/s, MB/s of f32 batches, wall seconds and
//! peak RSS as JSON.
//!
//! usage: loader-throughput SHARD_SET [BATCH] [SHUFFLE_BUFFER]

#![allow(clippy::print_stdout)] // a benchmark's output is its printed table

use std::time::Instant;

use eoforge_storage::StoreOptions;
use eoforge_train::{Loader, LoaderConfig, ShardSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(url) = args.get(1) else {
        return Err("usage: loader-throughput SHARD_SET [BATCH] [SHUFFLE_BUFFER]".into());
    };
    let batch_size = args.get(2).map_or(Ok(32), |b| b.parse())?;
    let shuffle_buffer = args.get(3).map_or(Ok(512), |b| b.parse())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let set = rt.block_on(ShardSet::open(url, &StoreOptions::default()))?;
    let input = set.input_tensor().to_owned();
    let loader =
        Loader::new(set, LoaderConfig { batch_size, shuffle_buffer, augment: true, input, ..LoaderConfig::default() })?;
    let start = Instant::now();
    let (mut samples, mut bytes, mut checksum) = (0usize, 0usize, 0.0f64);
    for batch in loader.epoch(0) {
        let batch = batch?;
        samples += batch.keys.len();
        bytes += batch.inputs.len() * 4;
        // Touch the batch as a training step would read it.
        checksum += f64::from(batch.inputs.iter().step_by(4099).sum::<f32>());
    }
    let seconds = start.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "samples": samples,
        "seconds": seconds,
        "samples_per_s": samples as f64 / seconds.max(1e-9),
        "mb_per_s": bytes as f64 / 1e6 / seconds.max(1e-9),
        "peak_rss_mib": eoforge_profile::peak_rss_mib(),
        "checksum": checksum,
    });
    println!("{report}");
    Ok(())
}
