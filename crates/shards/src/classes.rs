//! [`ClassInfo`]: a class of a label raster; [`ClassTable`]: a label set's classes in the order a network predicts
//! them, so label values are data — mapped to contiguous model indices and back — never indices themselves.

use std::collections::BTreeSet;

/// One label class: its value, name and display colour.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassInfo {
    /// The value the labels (and the class maps written from the model) hold for this class.
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

/// A label set's classes, in model order: the network's output `i` is the class `classes()[i]`, whose label value
/// is `value`. Values are distinct and sorted; the "no label" value is never a class.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ClassTable {
    classes: Vec<ClassInfo>,
}

/// The pixel type and nodata value of a class map holding a [`ClassTable`]'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassMapType {
    /// UInt16 when some value, or the nodata value beside them, does not fit UInt8.
    pub uint16: bool,
    /// A value that is no class: 255 (65535 for UInt16) when free, else the largest free value.
    pub nodata: u16,
}

impl ClassTable {
    /// The table of `classes`, sorted by value; a value listed twice is an error naming it.
    pub fn new(mut classes: Vec<ClassInfo>) -> Result<Self, String> {
        classes.sort_by_key(|c| c.value);
        if let Some(pair) = classes.windows(2).find(|p| p[0].value == p[1].value) {
            return Err(format!("class value {} is listed twice", pair[0].value));
        }
        Ok(Self { classes })
    }

    /// The classes of the distinct `values` (the "no label" value left out by the caller), named and coloured
    /// by `name` and `color` where they know the value, else `class N` and [`ClassInfo::default_color`].
    pub fn of_values(
        values: impl IntoIterator<Item = u16>,
        name: impl Fn(u16) -> Option<String>,
        color: impl Fn(u16) -> Option<[u8; 3]>,
    ) -> Self {
        let values: BTreeSet<u16> = values.into_iter().collect();
        let classes = values
            .into_iter()
            .map(|value| ClassInfo {
                value,
                name: name(value).filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("class {value}")),
                color: color(value).unwrap_or_else(|| ClassInfo::default_color(value)),
            })
            .collect();
        Self { classes }
    }

    /// Classes in model order.
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// Number of classes (the network's outputs).
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether the table has no class.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The model index of label `value`; `None` when it is no class.
    pub fn index_of(&self, value: u16) -> Option<usize> {
        self.classes.binary_search_by_key(&value, |c| c.value).ok()
    }

    /// The label value of model index `index`.
    pub fn value_of(&self, index: usize) -> Option<u16> {
        self.classes.get(index).map(|c| c.value)
    }

    /// The label values in model order.
    pub fn values(&self) -> Vec<u16> {
        self.classes.iter().map(|c| c.value).collect()
    }

    /// A lookup from every label value up to the largest class value to its model index (`-1`: no class).
    pub fn lookup(&self) -> Vec<i64> {
        let top = self.classes.last().map_or(0, |c| usize::from(c.value) + 1);
        let mut table = vec![-1; top];
        for (i, c) in self.classes.iter().enumerate() {
            table[usize::from(c.value)] = i as i64;
        }
        table
    }

    /// The type a class map of these values is written in: UInt8 when every value and a nodata value beside them
    /// fit it (255 unless a class uses it), else UInt16 (65535 unless a class uses it).
    pub fn map_type(&self) -> ClassMapType {
        let free = |top: u16| (0..=top).rev().find(|v| self.index_of(*v).is_none());
        let max = self.classes.last().map_or(0, |c| c.value);
        match free(255) {
            Some(nodata) if max <= 255 => ClassMapType { uint16: false, nodata },
            _ => ClassMapType { uint16: true, nodata: free(u16::MAX).unwrap_or(u16::MAX) },
        }
    }

    /// GDAL's `CLASS_NAMES` band item: `value=name` pairs separated by `;`.
    pub fn names_item(&self) -> String {
        self.classes.iter().map(|c| format!("{}={}", c.value, c.name)).collect::<Vec<_>>().join(";")
    }

    /// Category names indexed by value up to the largest class value (GDAL's category names), empty where no class.
    pub fn category_names(&self) -> Vec<String> {
        let top = self.classes.last().map_or(0, |c| usize::from(c.value) + 1);
        let mut names = vec![String::new(); top];
        for c in &self.classes {
            c.name.clone_into(&mut names[usize::from(c.value)]);
        }
        names
    }

    /// A colour table indexed by value up to the largest class value (black where no class).
    pub fn color_table(&self) -> Vec<[u8; 3]> {
        let top = self.classes.last().map_or(0, |c| usize::from(c.value) + 1);
        let mut colors = vec![[0, 0, 0]; top];
        for c in &self.classes {
            colors[usize::from(c.value)] = c.color;
        }
        colors
    }
}

impl<'de> serde::Deserialize<'de> for ClassTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(Vec::<ClassInfo>::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(values: &[u16]) -> ClassTable {
        ClassTable::of_values(values.iter().copied(), |_| None, |_| None)
    }

    #[test]
    fn sparse_values_map_to_contiguous_indices_and_back() {
        let t = table(&[100, 10, 30, 10]);
        assert_eq!(t.values(), [10, 30, 100]);
        assert_eq!((t.index_of(30), t.index_of(20), t.value_of(2)), (Some(1), None, Some(100)));
        let lookup = t.lookup();
        assert_eq!((lookup.len(), lookup[10], lookup[11], lookup[100]), (101, 0, -1, 2));
    }

    #[test]
    fn map_type_is_uint8_while_a_nodata_value_fits_beside_the_classes() {
        assert_eq!(table(&[0, 1, 2]).map_type(), ClassMapType { uint16: false, nodata: 255 });
        assert_eq!(table(&[0, 255]).map_type(), ClassMapType { uint16: false, nodata: 254 });
        assert_eq!(table(&[3, 300]).map_type(), ClassMapType { uint16: true, nodata: 65535 });
        let full: Vec<u16> = (0..=255).collect();
        assert_eq!(table(&full).map_type(), ClassMapType { uint16: true, nodata: 65535 });
    }

    #[test]
    fn a_value_listed_twice_is_refused() {
        let c = |value| ClassInfo { value, name: String::new(), color: [0; 3] };
        assert!(ClassTable::new(vec![c(3), c(3)]).expect_err("twice").contains("class value 3"));
        let parsed: Result<ClassTable, _> =
            serde_json::from_str(r#"[{"value":1,"name":"a","color":[0,0,0]},{"value":1,"name":"b","color":[0,0,0]}]"#);
        assert!(parsed.is_err());
    }
}
