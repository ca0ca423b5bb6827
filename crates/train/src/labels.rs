//! [`LabelMapping`]: the label values a set's masks hold, mapped to the network's class indices through a run's
//! class table — values are data, never indices.

use eoforge_shards::ClassTable;

/// The index a masked pixel gets when its label is the "no label" value: left out of losses and metrics.
pub const IGNORED: i64 = -1;

/// Label value → model index: a class table's values to `0..classes`, the ignore value to [`IGNORED`]. A set
/// that declares no class table keeps its values as indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMapping {
    lookup: Vec<i64>,
    ignore: Option<u16>,
    identity: bool,
    values: Vec<u16>,
}

impl LabelMapping {
    /// The mapping of `table` with `ignore` as the "no label" value.
    pub fn new(table: &ClassTable, ignore: Option<u16>) -> Self {
        Self { lookup: table.lookup(), ignore, identity: table.is_empty(), values: table.values() }
    }

    /// The model index of label `value`; `None` when it is neither a class nor the ignore value.
    pub fn index(&self, value: u16) -> Option<i64> {
        if Some(value) == self.ignore {
            Some(IGNORED)
        } else if self.identity {
            Some(i64::from(value))
        } else {
            self.lookup.get(usize::from(value)).copied().filter(|i| *i >= 0)
        }
    }

    /// Maps decoded mask values in place; the first value that is no class is returned as an error.
    pub fn apply(&self, masks: &mut [i64]) -> std::result::Result<(), i64> {
        for v in masks.iter_mut() {
            *v = u16::try_from(*v).ok().and_then(|value| self.index(value)).ok_or(*v)?;
        }
        Ok(())
    }

    /// The class values, for messages.
    pub fn describe(&self) -> String {
        let values: Vec<String> = self.values.iter().map(u16::to_string).collect();
        let ignore = self.ignore.map_or_else(String::new, |v| format!("; {v} = no label"));
        if self.identity { format!("class indices{ignore}") } else { format!("{}{ignore}", values.join(", ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_255_beside_a_real_class_0() {
        let table = ClassTable::of_values([0, 1, 2], |_| None, |_| None);
        let mapping = LabelMapping::new(&table, Some(255));
        let mut masks = vec![0, 255, 2, 1];
        mapping.apply(&mut masks).expect("mapped");
        assert_eq!(masks, [0, IGNORED, 2, 1]);
        assert_eq!(mapping.apply(&mut [3]), Err(3));
    }

    #[test]
    fn sparse_and_large_values_become_contiguous() {
        let table = ClassTable::of_values([10, 40, 1000], |_| None, |_| None);
        let mapping = LabelMapping::new(&table, None);
        let mut masks = vec![1000, 10, 40];
        mapping.apply(&mut masks).expect("mapped");
        assert_eq!(masks, [2, 0, 1]);
        assert_eq!(mapping.index(20), None);
        assert_eq!(mapping.describe(), "10, 40, 1000");
    }
}
