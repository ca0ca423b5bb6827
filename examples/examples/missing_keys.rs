//! Check that keys exist in a store and list every missing one.
//!
//! `cargo run -p eoforge-examples --example missing_keys -- s3://bucket/prefix key1 key2 ...`
#![allow(clippy::print_stdout)] // an example's output is its point

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, keys @ ..] = args.as_slice() else {
        anyhow::bail!("usage: missing_keys STORE_URL KEY...");
    };
    let store = eoforge_storage::Store::open(store)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(store.check_exist(keys, 64))?;
    println!("checked {} keys in {:.2} s ({:.0} HEAD/s)", report.checked, report.elapsed.as_secs_f64(), report.rate());
    for key in &report.missing {
        println!("missing: {}", store.url_of(key));
    }
    if report.missing.is_empty() { Ok(()) } else { anyhow::bail!("{} missing", report.missing.len()) }
}
