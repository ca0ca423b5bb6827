//! A minimal little-endian TIFF / BigTIFF IFD serializer: tags sorted by id, values that do not fit the entry
//! stored right after the IFD.

/// A tag value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// SHORT array.
    Short(Vec<u16>),
    /// LONG array.
    Long(Vec<u32>),
    /// LONG8 array (BigTIFF only).
    Long8(Vec<u64>),
    /// DOUBLE array.
    Double(Vec<f64>),
    /// ASCII (NUL added).
    Ascii(String),
}

impl Value {
    fn type_and_count(&self) -> (u16, u64) {
        match self {
            Self::Short(v) => (3, v.len() as u64),
            Self::Long(v) => (4, v.len() as u64),
            Self::Long8(v) => (16, v.len() as u64),
            Self::Double(v) => (12, v.len() as u64),
            Self::Ascii(s) => (2, s.len() as u64 + 1),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Long8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Double(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Ascii(s) => s.bytes().chain(std::iter::once(0)).collect(),
        }
    }
}

/// Size in bytes of an IFD with `tags` (entries plus out-of-line values), for offset planning.
pub(crate) fn ifd_size(tags: &[(u16, Value)], big: bool) -> u64 {
    let (count_size, entry, next, inline) = if big { (8, 20, 8, 8) } else { (2, 12, 4, 4) };
    let extra: u64 =
        tags.iter().map(|(_, v)| v.bytes().len() as u64).filter(|n| *n > inline).map(|n| n + (n & 1)).sum();
    count_size + entry * tags.len() as u64 + next + extra
}

/// Serializes an IFD placed at byte `at`, pointing to the next IFD at `next` (0 for none).
pub(crate) fn write_ifd(mut tags: Vec<(u16, Value)>, at: u64, next: u64, big: bool) -> Vec<u8> {
    tags.sort_by_key(|(tag, _)| *tag);
    let (count_size, entry, next_size, inline) = if big { (8u64, 20u64, 8u64, 8usize) } else { (2, 12, 4, 4) };
    let mut extra_at = at + count_size + entry * tags.len() as u64 + next_size;
    let mut head = Vec::new();
    let mut extra = Vec::new();
    if big {
        head.extend_from_slice(&(tags.len() as u64).to_le_bytes());
    } else {
        head.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    }
    for (tag, value) in &tags {
        let (kind, count) = value.type_and_count();
        head.extend_from_slice(&tag.to_le_bytes());
        head.extend_from_slice(&kind.to_le_bytes());
        if big {
            head.extend_from_slice(&count.to_le_bytes());
        } else {
            head.extend_from_slice(&(count as u32).to_le_bytes());
        }
        let mut bytes = value.bytes();
        if bytes.len() <= inline {
            bytes.resize(inline, 0);
            head.extend_from_slice(&bytes);
        } else {
            if big {
                head.extend_from_slice(&extra_at.to_le_bytes());
            } else {
                head.extend_from_slice(&(extra_at as u32).to_le_bytes());
            }
            if bytes.len() % 2 == 1 {
                bytes.push(0);
            }
            extra_at += bytes.len() as u64;
            extra.extend_from_slice(&bytes);
        }
    }
    if big {
        head.extend_from_slice(&next.to_le_bytes());
    } else {
        head.extend_from_slice(&(next as u32).to_le_bytes());
    }
    head.extend_from_slice(&extra);
    head
}
