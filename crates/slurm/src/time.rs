//! SLURM time limits (`--time`): `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.

/// Seconds in a SLURM time string, or why it is not one.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a SLURM time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)");
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (num(d)?, Some(rest)),
        None => (0, None),
    };
    // After a day count the first field is hours; without one, minutes.
    let parts: Vec<&str> = rest.unwrap_or(text).split(':').collect();
    let seconds = match (rest.is_some(), &parts[..]) {
        (true, [h]) => num(h)? * 3600,
        (true, [h, m]) => num(h)? * 3600 + num(m)? * 60,
        (false, [m]) => num(m)? * 60,
        (false, [m, s]) => num(m)? * 60 + num(s)?,
        (_, [h, m, s]) => num(h)? * 3600 + num(m)? * 60 + num(s)?,
        _ => return Err(bad()),
    };
    Ok(days * 86_400 + seconds)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn reads_every_slurm_form() {
        for (text, seconds) in [
            ("30", 1800),
            ("30:15", 1815),
            ("02:00:00", 7200),
            ("1-12", 129_600),
            ("4-00:30", 347_400),
            ("7-00:00:00", 604_800),
        ] {
            assert_eq!(parse_time(text), Ok(seconds), "{text}");
        }
        for text in ["", "1:2:3:4", "x", "1-", "-5", "1-2:3:4:5"] {
            assert!(parse_time(text).is_err(), "{text}");
        }
    }
}
