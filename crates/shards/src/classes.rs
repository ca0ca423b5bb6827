//! [`ClassInfo`]: a class of a label raster, as segmentation shard sets and trained runs record it.

/// One label class: its value, name and display colour.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassInfo {
    /// The label value (the class index a model predicts).
    pub value: u16,
    /// Its name (the label raster's category name, or `class N`).
    pub name: String,
    /// Its colour (the label raster's colour table, or [`ClassInfo::default_color`]).
    pub color: [u8; 3],
}

impl ClassInfo {
    /// A distinct colour per class value, for label rasters without a colour table.
    pub fn default_color(value: u16) -> [u8; 3] {
        const PALETTE: [[u8; 3]; 12] = [
            [0, 0, 0],
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [210, 245, 60],
            [250, 190, 212],
            [0, 128, 128],
        ];
        PALETTE[usize::from(value) % PALETTE.len()]
    }
}
