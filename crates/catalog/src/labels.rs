//! The BigEarthNet label nomenclatures: the 43 CORINE classes of v1 and the 19 classes of v2, and the official
//! mapping from the first to the second (11 classes of the 43 have no 19-class counterpart and are dropped).

/// The 43 BigEarthNet v1 class names, in their canonical order.
pub const BEN43: [&str; 43] = [
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Industrial or commercial units",
    "Road and rail networks and associated land",
    "Port areas",
    "Airports",
    "Mineral extraction sites",
    "Dump sites",
    "Construction sites",
    "Green urban areas",
    "Sport and leisure facilities",
    "Non-irrigated arable land",
    "Permanently irrigated land",
    "Rice fields",
    "Vineyards",
    "Fruit trees and berry plantations",
    "Olive groves",
    "Pastures",
    "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland",
    "Moors and heathland",
    "Sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Bare rock",
    "Sparsely vegetated areas",
    "Burnt areas",
    "Inland marshes",
    "Peatbogs",
    "Salt marshes",
    "Salines",
    "Intertidal flats",
    "Water courses",
    "Water bodies",
    "Coastal lagoons",
    "Estuaries",
    "Sea and ocean",
];

/// The 19 BigEarthNet v2 class names, in their canonical order (the multi-hot vector's order).
pub const BEN19: [&str; 19] = [
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
];

/// Index into [`BEN19`] of each [`BEN43`] class, `None` for the 11 classes the 19-class nomenclature drops.
const BEN43_TO_19: [Option<u8>; 43] = [
    Some(0),  // Continuous urban fabric
    Some(0),  // Discontinuous urban fabric
    Some(1),  // Industrial or commercial units
    None,     // Road and rail networks and associated land
    None,     // Port areas
    None,     // Airports
    None,     // Mineral extraction sites
    None,     // Dump sites
    None,     // Construction sites
    None,     // Green urban areas
    None,     // Sport and leisure facilities
    Some(2),  // Non-irrigated arable land
    Some(2),  // Permanently irrigated land
    Some(2),  // Rice fields
    Some(3),  // Vineyards
    Some(3),  // Fruit trees and berry plantations
    Some(3),  // Olive groves
    Some(4),  // Pastures
    Some(3),  // Annual crops associated with permanent crops
    Some(5),  // Complex cultivation patterns
    Some(6),  // Land principally occupied by agriculture, …
    Some(7),  // Agro-forestry areas
    Some(8),  // Broad-leaved forest
    Some(9),  // Coniferous forest
    Some(10), // Mixed forest
    Some(11), // Natural grassland
    Some(12), // Moors and heathland
    Some(12), // Sclerophyllous vegetation
    Some(13), // Transitional woodland/shrub
    Some(14), // Beaches, dunes, sands
    None,     // Bare rock
    Some(11), // Sparsely vegetated areas
    None,     // Burnt areas
    Some(15), // Inland marshes
    Some(15), // Peatbogs
    Some(16), // Salt marshes
    Some(16), // Salines
    None,     // Intertidal flats
    Some(17), // Water courses
    Some(17), // Water bodies
    Some(18), // Coastal lagoons
    Some(18), // Estuaries
    Some(18), // Sea and ocean
];

/// What a label name means in the 19-class nomenclature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelClass {
    /// Index into [`BEN19`].
    Class(usize),
    /// A valid 43-class label that the 19-class nomenclature drops.
    Dropped,
}

/// Resolves a v2 (19-class) or v1 (43-class) label name; `None` for an unknown name.
pub fn class19(label: &str) -> Option<LabelClass> {
    if let Some(i) = BEN19.iter().position(|c| *c == label) {
        return Some(LabelClass::Class(i));
    }
    BEN43
        .iter()
        .position(|c| *c == label)
        .map(|i| BEN43_TO_19[i].map_or(LabelClass::Dropped, |c| LabelClass::Class(usize::from(c))))
}

/// The 19-class multi-hot vector of a label list (unknown names are ignored; validate with [`class19`] first).
pub fn multi_hot19(labels: &[String]) -> [u8; 19] {
    let mut out = [0u8; 19];
    for label in labels {
        if let Some(LabelClass::Class(i)) = class19(label) {
            out[i] = 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_class_maps_and_eleven_are_dropped() {
        assert_eq!(BEN43_TO_19.iter().filter(|c| c.is_none()).count(), 11);
        let mut used = [false; 19];
        for c in BEN43_TO_19.iter().flatten() {
            used[usize::from(*c)] = true;
        }
        assert!(used.iter().all(|u| *u), "every 19-class target is reached");
        assert_eq!(class19("Pastures"), Some(LabelClass::Class(4)));
        assert_eq!(class19("Water courses"), Some(LabelClass::Class(17)));
        assert_eq!(class19("Airports"), Some(LabelClass::Dropped));
        assert_eq!(class19("Marine waters"), Some(LabelClass::Class(18)));
        assert_eq!(class19("Cloud"), None);
    }

    #[test]
    fn multi_hot_merges_classes() {
        let v = multi_hot19(&[
            "Non-irrigated arable land".into(),
            "Rice fields".into(),
            "Sea and ocean".into(),
            "Port areas".into(),
        ]);
        assert_eq!(v.iter().map(|x| u32::from(*x)).sum::<u32>(), 2);
        assert_eq!((v[2], v[18]), (1, 1));
    }
}
