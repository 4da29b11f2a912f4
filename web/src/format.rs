//! Numbers as people read them: `12,345` lines, `1.2 MB`.
//!
//! Pure functions (no browser APIs), so they are unit-tested natively.

/// Formats a count with thousands separators: `1234567` -> `"1,234,567"`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        // A separator goes before every group of three digits counted from the right.
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a byte size with decimal (SI) units, as file managers show them: `"512 B"`,
/// `"1.5 kB"`, `"23.4 MB"`. One decimal from kB upwards.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    // Integer steps first so that rounding only happens once, at the end.
    let mut unit = 0;
    let mut scaled = n;
    while scaled >= 1_000_000 && unit + 1 < UNITS.len() {
        scaled /= 1000;
        unit += 1;
    }
    // `scaled` < 1e6 here (below 2e7 when the units run out), so the conversion is exact.
    let value = u32::try_from(scaled).map(f64::from).unwrap_or(f64::MAX) / 1000.0;
    if value >= 999.95 && unit + 1 < UNITS.len() {
        // 999,999 B would print as "1000.0 kB"; say "1.0 MB" instead.
        return format!("{:.1} {}", value / 1000.0, UNITS[unit + 1]);
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `"1 line"`, `"2 lines"`: a count with its noun, singular or plural.
pub fn plural(n: u64, singular: &str, plural: &str) -> String {
    format!("{} {}", count(n), if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn bytes_use_si_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.0 kB");
        assert_eq!(bytes(1536), "1.5 kB");
        assert_eq!(bytes(23_456_789), "23.5 MB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(5_000_000_000), "5.0 GB");
        assert_eq!(bytes(u64::MAX), "18446.7 PB");
    }

    #[test]
    fn plural_picks_the_noun() {
        assert_eq!(plural(1, "line", "lines"), "1 line");
        assert_eq!(plural(0, "line", "lines"), "0 lines");
        assert_eq!(plural(2048, "line", "lines"), "2,048 lines");
    }
}
