//! Where a product's companions go: derived maps and sidecar files, by one rule for paths and URLs alike.

/// The destination of derived map `name` of the product published at `dest`: `<dest without .tif/.tiff, any
/// case>_<name>.tif`, e.g. `s3://maps/T29RKH.TIF` → `s3://maps/T29RKH_ndvi.tif`.
pub fn derived_dest(dest: &str, name: &str) -> String {
    format!("{}_{name}.tif", product_stem(dest))
}

/// `dest` without its `.tif`/`.tiff` extension (any case): what derived maps and working files are named after.
pub fn product_stem(dest: &str) -> &str {
    let lower = dest.to_ascii_lowercase();
    [".tif", ".tiff"].iter().find(|ext| lower.ends_with(*ext)).map_or(dest, |ext| &dest[..dest.len() - ext.len()])
}

/// The key of `product_key`'s passing QC report and record: `<key>.qc.json`.
pub fn report_key(product_key: &str) -> String {
    format!("{product_key}.qc.json")
}

/// The key of a rejected product's QC report: `<key>.rejected.qc.json` (a good product already published keeps
/// its own report).
pub fn rejected_report_key(product_key: &str) -> String {
    format!("{product_key}.rejected.qc.json")
}

/// The key of a run's profile: `<key>.profile.json`.
pub fn profile_key(product_key: &str) -> String {
    format!("{product_key}.profile.json")
}

/// The files a published product consists of, as records and messages list them: the product, its derived maps
/// (their destinations), its STAC Item and its QC report.
pub fn published_files(dest: &str, derived: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut files = vec![dest.to_owned()];
    files.extend(derived);
    files.push(crate::item_key(dest));
    files.push(report_key(dest));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_maps_sit_beside_the_product_whatever_the_extension_case() {
        assert_eq!(derived_dest("s3://maps/T29RKH.tif", "ndvi"), "s3://maps/T29RKH_ndvi.tif");
        assert_eq!(derived_dest("s3://maps/T29RKH.TIF", "ndvi"), "s3://maps/T29RKH_ndvi.tif");
        assert_eq!(derived_dest("/maps/x.tiff", "rgb"), "/maps/x_rgb.tif");
        assert_eq!(derived_dest("/maps/x", "nir"), "/maps/x_nir.tif");
    }
}
