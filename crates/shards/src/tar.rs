//! A deterministic tar (ustar) writer: fixed mode, owner and time, so the same samples give the same bytes.

/// Builds a tar archive in memory, member by member.
#[derive(Debug, Default)]
pub struct TarBuilder {
    out: Vec<u8>,
}

/// A member name that does not fit a ustar header.
#[derive(Debug, thiserror::Error)]
#[error("tar member name `{0}` is too long (ustar allows 100 bytes, or 255 split at a `/`)")]
pub struct NameTooLong(pub String);

impl TarBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes written so far (without the end-of-archive blocks).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when no member has been added.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Appends a regular file.
    pub fn append(&mut self, name: &str, data: &[u8]) -> Result<(), NameTooLong> {
        let (prefix, base) = split_name(name).ok_or_else(|| NameTooLong(name.to_owned()))?;
        let mut header = [0u8; 512];
        header[..base.len()].copy_from_slice(base.as_bytes());
        octal(&mut header[100..108], 0o644);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], data.len() as u64);
        octal(&mut header[136..148], 0);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        header[148..156].fill(b' ');
        let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
        octal(&mut header[148..155], sum);
        header[155] = b' ';
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        self.out.resize(self.out.len().next_multiple_of(512), 0);
        Ok(())
    }

    /// Finishes the archive (two zero blocks) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 1024, 0);
        self.out
    }
}

/// Splits a name into ustar prefix and name fields.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let cut = name
        .char_indices()
        .filter(|(i, c)| *c == '/' && *i <= 155 && name.len() - i - 1 <= 100)
        .map(|(i, _)| i)
        .next()?;
    Some((&name[..cut], &name[cut + 1..]))
}

/// Writes `value` as zero-padded octal followed by NUL into `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_readable_deterministic_archives() {
        let mut t = TarBuilder::new();
        t.append("a.image.npy", b"hello").expect("append");
        t.append("a.json", b"{}").expect("append");
        let bytes = t.finish();
        assert_eq!(bytes.len(), 512 * 2 + 512 * 2 + 1024);
        assert_eq!(&bytes[257..262], b"ustar");
        let mut again = TarBuilder::new();
        again.append("a.image.npy", b"hello").expect("append");
        again.append("a.json", b"{}").expect("append");
        assert_eq!(again.finish(), bytes);
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        TarBuilder::new().append(&long, b"x").expect("prefix split");
        assert!(TarBuilder::new().append(&"x".repeat(300), b"x").is_err());
    }
}
