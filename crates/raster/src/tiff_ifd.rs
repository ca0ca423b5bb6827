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

/// Reads the tags of the first IFD of a little-endian classic TIFF held in `bytes` (SHORT, LONG, DOUBLE and ASCII
/// values; other types are skipped). Trailing NULs of ASCII values are removed.
pub(crate) fn read_first_ifd(bytes: &[u8]) -> Result<Vec<(u16, Value)>, String> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if bytes.get(..4) != Some(&[b'I', b'I', 42, 0][..]) {
        return Err("not a little-endian classic TIFF".into());
    }
    let truncated = || "truncated TIFF".to_owned();
    let ifd = u32_at(4).ok_or_else(truncated)? as usize;
    let count = usize::from(u16_at(ifd).ok_or_else(truncated)?);
    let mut tags = Vec::with_capacity(count);
    for i in 0..count {
        let entry = ifd + 2 + 12 * i;
        let (tag, kind) = (u16_at(entry).ok_or_else(truncated)?, u16_at(entry + 2).ok_or_else(truncated)?);
        let n = u32_at(entry + 4).ok_or_else(truncated)? as usize;
        let size = match kind {
            2 => 1,
            3 => 2,
            4 => 4,
            12 => 8,
            _ => continue,
        };
        let len = n.checked_mul(size).ok_or_else(truncated)?;
        let at = if len <= 4 { entry + 8 } else { u32_at(entry + 8).ok_or_else(truncated)? as usize };
        let data = bytes.get(at..at + len).ok_or_else(truncated)?;
        let value = match kind {
            2 => Value::Ascii(String::from_utf8_lossy(data).trim_end_matches('\0').to_owned()),
            3 => Value::Short(data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
            4 => Value::Long(data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            _ => Value::Double(
                data.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        };
        tags.push((tag, value));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ifd_reads_back_as_written() {
        let tags = vec![
            (256, Value::Long(vec![7])),
            (258, Value::Short(vec![16, 16, 16])),
            (33_550, Value::Double(vec![10.0, 10.0, 0.0])),
            (34_737, Value::Ascii("WGS 84 / UTM zone 29N|WGS 84|".into())),
        ];
        let mut file = vec![b'I', b'I', 42, 0, 8, 0, 0, 0];
        file.extend(write_ifd(tags, 8, 0, false));
        let back = read_first_ifd(&file).expect("read");
        assert_eq!(back.len(), 4);
        assert!(matches!(&back[3], (34_737, Value::Ascii(s)) if s == "WGS 84 / UTM zone 29N|WGS 84|"));
        assert!(matches!(&back[2], (33_550, Value::Double(v)) if v == &[10.0, 10.0, 0.0]));
        assert!(matches!(&back[1], (258, Value::Short(v)) if v == &[16, 16, 16]));
        assert!(read_first_ifd(&file[..20]).is_err());
    }
}
