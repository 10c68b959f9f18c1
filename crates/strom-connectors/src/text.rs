//! Text <-> value primitives shared by the CSV/JSON readers and writers and the print sink:
//! integer, decimal, float, boolean, date and timestamp parsing (byte slices, no allocation) and
//! formatting (appending to a `Vec<u8>`).
//!
//! Timestamps are `TIMESTAMP(p)` without time zone, kept as UTC epoch values in the Arrow unit
//! of their precision (seconds, milliseconds, microseconds or nanoseconds).

use arrow::datatypes::TimeUnit;

/// Days from 1970-01-01 to the civil date `y-m-d` (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u64; // [0, 399]
    let m = m as u64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as u64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe as i64 - 719_468
}

/// The civil date `(y, m, d)` of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Units of a time unit per second.
pub fn units_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Fraction digits of a time unit.
pub fn unit_digits(unit: TimeUnit) -> usize {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

#[inline]
fn trimmed(s: &[u8]) -> Option<&[u8]> {
    let t = s.trim_ascii();
    if t.len() != s.len() && !t.is_empty() {
        Some(t)
    } else {
        None
    }
}

/// Parses a decimal integer (`[+-]digits`, surrounding ASCII spaces allowed).
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if !digits.is_empty() && digits.len() <= 18 {
        let mut v: i64 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return trimmed(s).and_then(parse_i64);
            }
            v = v * 10 + d as i64;
        }
        return Some(if neg { -v } else { v });
    }
    if digits.len() > 18 {
        let mut v: i128 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 || v > i64::MAX as i128 + 1 {
                return trimmed(s).and_then(parse_i64);
            }
            v = v * 10 + d as i128;
        }
        let v = if neg { -v } else { v };
        return i64::try_from(v).ok();
    }
    trimmed(s).and_then(parse_i64)
}

/// Parses a floating point number (Rust/Java spellings: `1.5`, `-2e10`, `NaN`, `Infinity`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?.trim_ascii();
    t.parse::<f64>().ok()
}

/// Parses `true`/`false` (any case).
pub fn parse_bool(s: &[u8]) -> Option<bool> {
    let t = s.trim_ascii();
    if t.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if t.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^n as i128 (n <= 38).
pub fn pow10(n: u32) -> i128 {
    POW10[n.min(38) as usize]
}

/// Parses decimal text (`[+-]digits[.digits][e[+-]digits]`) into the unscaled i128 value of a
/// `DECIMAL(precision, scale)`. Extra fraction digits are rounded half away from zero; a value
/// that does not fit the precision is an error (`None`).
pub fn parse_decimal(s: &[u8], precision: u8, scale: i8) -> Option<i128> {
    let t = s.trim_ascii();
    let (neg, rest) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    // mantissa digits (without leading zeros) and the position of the decimal point
    let mut digits: Vec<u8> = Vec::with_capacity(rest.len());
    let mut frac_digits: i64 = 0;
    let mut seen_point = false;
    let mut seen_digit = false;
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if !(digits.is_empty() && b == b'0') {
                    digits.push(b - b'0');
                }
                if seen_point {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    let mut exp: i64 = 0;
    if i < rest.len() {
        // exponent
        let e = std::str::from_utf8(&rest[i + 1..]).ok()?;
        exp = e.parse::<i64>().ok()?;
        if exp.abs() > 1000 {
            return None;
        }
    }
    // value = digits * 10^(exp - frac_digits); we want digits * 10^(exp - frac_digits + scale)
    let shift = exp - frac_digits + scale as i64;
    let mut keep = digits.len() as i64;
    let mut round_up = false;
    if shift < 0 {
        let drop = (-shift).min(digits.len() as i64 + 1);
        keep = digits.len() as i64 - drop;
        if keep >= 0 && (keep as usize) < digits.len() {
            round_up = digits[keep as usize] >= 5;
        }
        keep = keep.max(0);
    }
    let mut v: i128 = 0;
    for &d in &digits[..keep as usize] {
        v = v.checked_mul(10)?.checked_add(d as i128)?;
    }
    if shift > 0 {
        if shift > 38 {
            if v != 0 {
                return None;
            }
        } else {
            v = v.checked_mul(pow10(shift as u32))?;
        }
    }
    if round_up {
        v = v.checked_add(1)?;
    }
    if precision <= 38 && v >= pow10(precision as u32) {
        return None;
    }
    Some(if neg { -v } else { v })
}

#[inline]
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    if d <= 9 {
        Some(d as u32)
    } else {
        None
    }
}

#[inline]
fn two_digits(s: &[u8], i: usize) -> Option<u32> {
    Some(digit(*s.get(i)?)? * 10 + digit(*s.get(i + 1)?)?)
}

/// A cursor reading 1..=max_len digits.
fn read_digits(s: &[u8], i: &mut usize, max_len: usize) -> Option<u32> {
    let start = *i;
    let mut v: u32 = 0;
    while *i < s.len() && *i - start < max_len {
        match digit(s[*i]) {
            Some(d) => v = v * 10 + d,
            None => break,
        }
        *i += 1;
    }
    if *i == start {
        None
    } else {
        Some(v)
    }
}

/// Parses `YYYY-MM-DD` (month and day may have one digit) into days since 1970-01-01.
pub fn parse_date(s: &[u8]) -> Option<i32> {
    let t = s.trim_ascii();
    let mut i = 0;
    let days = parse_date_prefix(t, &mut i)?;
    if i != t.len() {
        return None;
    }
    i32::try_from(days).ok()
}

fn parse_date_prefix(s: &[u8], i: &mut usize) -> Option<i64> {
    let neg = s.first() == Some(&b'-');
    if neg {
        *i += 1;
    }
    let y = read_digits(s, i, 6)? as i64;
    let y = if neg { -y } else { y };
    if s.get(*i) != Some(&b'-') {
        return None;
    }
    *i += 1;
    let m = read_digits(s, i, 2)?;
    if s.get(*i) != Some(&b'-') {
        return None;
    }
    *i += 1;
    let d = read_digits(s, i, 2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses a timestamp into epoch units of `unit` (UTC, no time zone).
///
/// Fast path: `YYYY-MM-DD HH:MM:SS[.f...]` (or with `T`); slower path: one-digit fields, missing
/// seconds, a date alone (midnight) and a trailing `Z`. Fraction digits beyond the unit are
/// truncated.
#[inline]
pub fn parse_timestamp(s: &[u8], unit: TimeUnit) -> Option<i64> {
    parse_timestamp_with(s, unit, &mut DateCache::default())
}

/// The last date a column's timestamps had (`YYYY-MM-DD` and its day number): consecutive
/// rows of a file mostly share their date, and the calendar arithmetic is then done once.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateCache {
    text: [u8; 10],
    days: i64,
}

/// [`parse_timestamp`], with the day number of the date taken from `cache` when the date is the
/// one seen last.
#[inline]
pub fn parse_timestamp_with(s: &[u8], unit: TimeUnit, cache: &mut DateCache) -> Option<i64> {
    if s.len() >= 19
        && s[4] == b'-'
        && s[7] == b'-'
        && (s[10] == b' ' || s[10] == b'T')
        && s[13] == b':'
        && s[16] == b':'
    {
        let days = if s[..10] == cache.text {
            Some(cache.days)
        } else {
            let y = two_digits(s, 0)? * 100 + two_digits(s, 2)?;
            let mo = two_digits(s, 5)?;
            let d = two_digits(s, 8)?;
            ((1..=12).contains(&mo) && d >= 1 && d <= days_in_month(y as i64, mo)).then(|| {
                let days = days_from_civil(y as i64, mo, d);
                cache.text.copy_from_slice(&s[..10]);
                cache.days = days;
                days
            })
        };
        let h = two_digits(s, 11)?;
        let mi = two_digits(s, 14)?;
        let se = two_digits(s, 17)?;
        let frac = if s.len() == 19 {
            Some(0)
        } else if s[19] == b'.' && s.len() > 20 {
            parse_fraction(&s[20..], unit)
        } else {
            None
        };
        if let Some(frac) = frac {
            let days = days?;
            if h < 24 && mi < 60 && se < 60 {
                let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
                return secs.checked_mul(units_per_second(unit))?.checked_add(frac);
            }
            return None;
        }
    }
    parse_timestamp_slow(s, unit)
}

/// Fraction digits (1..=9, all digits) scaled to `unit`, extra digits truncated.
#[inline]
fn parse_fraction(f: &[u8], unit: TimeUnit) -> Option<i64> {
    if f.is_empty() || f.len() > 9 {
        return None;
    }
    let want = unit_digits(unit);
    let mut v: i64 = 0;
    for (k, &b) in f.iter().enumerate() {
        let d = digit(b)?;
        if k < want {
            v = v * 10 + d as i64;
        }
    }
    for _ in f.len()..want {
        v *= 10;
    }
    Some(v)
}

fn parse_timestamp_slow(s: &[u8], unit: TimeUnit) -> Option<i64> {
    let mut t = s.trim_ascii();
    if let Some(stripped) = t.strip_suffix(b"Z") {
        t = stripped;
    }
    let mut i = 0;
    let days = parse_date_prefix(t, &mut i)?;
    let (mut h, mut mi, mut se, mut frac) = (0u32, 0u32, 0u32, 0i64);
    if i < t.len() {
        if t[i] != b' ' && t[i] != b'T' {
            return None;
        }
        i += 1;
        h = read_digits(t, &mut i, 2)?;
        if t.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        mi = read_digits(t, &mut i, 2)?;
        if t.get(i) == Some(&b':') {
            i += 1;
            se = read_digits(t, &mut i, 2)?;
            if t.get(i) == Some(&b'.') {
                frac = parse_fraction(&t[i + 1..], unit)?;
                i = t.len();
            }
        }
        if i != t.len() || h >= 24 || mi >= 60 || se >= 60 {
            return None;
        }
    }
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    secs.checked_mul(units_per_second(unit))?.checked_add(frac)
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/// Appends the decimal text of an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends the decimal text of a signed integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends `v` zero-padded to `width` digits.
#[inline]
pub fn write_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut x = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    let len = tmp.len() - i;
    for _ in len..width {
        out.push(b'0');
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends an unscaled decimal as plain text with exactly `scale` fraction digits
/// (`90800` at scale 3 is `90.800`; `-5` at scale 3 is `-0.005`).
pub fn write_decimal(out: &mut Vec<u8>, v: i128, scale: i8) {
    if v < 0 {
        out.push(b'-');
    }
    let u = v.unsigned_abs();
    if scale <= 0 {
        write_u128(out, u);
        if u != 0 {
            for _ in 0..(-(scale as i32)) {
                out.push(b'0');
            }
        }
        return;
    }
    let p = pow10(scale as u32) as u128;
    write_u128(out, u / p);
    out.push(b'.');
    let frac = u % p;
    let mut tmp = Vec::with_capacity(40);
    write_u128(&mut tmp, frac);
    for _ in tmp.len()..scale as usize {
        out.push(b'0');
    }
    out.extend_from_slice(&tmp);
}

fn write_u128(out: &mut Vec<u8>, v: u128) {
    if v <= u64::MAX as u128 {
        write_u64(out, v as u64);
        return;
    }
    let mut tmp = [0u8; 40];
    let mut i = tmp.len();
    let mut x = v;
    while x > 0 {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends a date (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y < 0 {
        out.push(b'-');
    }
    write_padded(out, y.unsigned_abs(), 4);
    out.push(b'-');
    write_padded(out, m as u64, 2);
    out.push(b'-');
    write_padded(out, d as u64, 2);
}

/// Appends a timestamp as `YYYY-MM-DD HH:MM:SS[.fff]` with as many fraction digits as the unit
/// has (none for seconds, 3 for milliseconds, 6 for microseconds, 9 for nanoseconds).
pub fn write_timestamp(out: &mut Vec<u8>, v: i64, unit: TimeUnit) {
    let per = units_per_second(unit);
    let secs = v.div_euclid(per);
    let frac = v.rem_euclid(per);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    write_date(out, days);
    out.push(b' ');
    write_padded(out, (sod / 3600) as u64, 2);
    out.push(b':');
    write_padded(out, ((sod / 60) % 60) as u64, 2);
    out.push(b':');
    write_padded(out, (sod % 60) as u64, 2);
    let digits = unit_digits(unit);
    if digits > 0 {
        out.push(b'.');
        write_padded(out, frac as u64, digits);
    }
}

/// Appends a float: shortest round-trip text (`1.0`, `0.1`, `1e20`), `NaN`, `Infinity`,
/// `-Infinity`.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// Appends a 32-bit float like [`write_f64`] (shortest text of the f32 value).
pub fn write_f32(out: &mut Vec<u8>, v: f32) {
    use std::io::Write;
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 19_723, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        assert_eq!(civil_from_days(19_723 + 59), (2024, 2, 29));
    }

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"1234"), Some(1234));
        assert_eq!(parse_i64(b"-1234"), Some(-1234));
        assert_eq!(parse_i64(b"+7"), Some(7));
        assert_eq!(parse_i64(b" 42 "), Some(42));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"99999999999999999999999"), None);
        assert_eq!(parse_i64(b"abc"), None);
        assert_eq!(parse_i64(b"12a"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"1.5"), None);
        let mut out = Vec::new();
        for v in [0i64, 7, -7, 1_704_067_200_000, i64::MIN, i64::MAX] {
            out.clear();
            write_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"90.8", 23, 3), Some(90_800));
        assert_eq!(parse_decimal(b"-0.005", 10, 3), Some(-5));
        assert_eq!(parse_decimal(b"1.2345", 10, 3), Some(1_235)); // half up
        assert_eq!(parse_decimal(b"-1.2345", 10, 3), Some(-1_235));
        assert_eq!(parse_decimal(b"1.2344", 10, 3), Some(1_234));
        assert_eq!(parse_decimal(b"12", 5, 2), Some(1_200));
        assert_eq!(parse_decimal(b"1.5e2", 5, 1), Some(1_500));
        assert_eq!(parse_decimal(b"1000", 5, 2), None); // 1000.00 needs 6 digits
        assert_eq!(parse_decimal(b"999.99", 5, 2), Some(99_999));
        assert_eq!(parse_decimal(b".5", 5, 2), Some(50));
        assert_eq!(parse_decimal(b"abc", 5, 2), None);
        assert_eq!(parse_decimal(b"1.2.3", 5, 2), None);
        assert_eq!(parse_decimal(b"", 5, 2), None);
        assert_eq!(parse_decimal(b"0.0004", 5, 3), Some(0));
        let mut out = Vec::new();
        write_decimal(&mut out, 90_800, 3);
        assert_eq!(out, b"90.800");
        out.clear();
        write_decimal(&mut out, -5, 3);
        assert_eq!(out, b"-0.005");
        out.clear();
        write_decimal(&mut out, 42, 0);
        assert_eq!(out, b"42");
        out.clear();
        write_decimal(&mut out, i128::MAX / 10, 2);
        let s = (i128::MAX / 10).to_string();
        assert_eq!(
            out,
            format!("{}.{}", &s[..s.len() - 2], &s[s.len() - 2..]).as_bytes()
        );
    }

    #[test]
    fn timestamps() {
        use TimeUnit::*;
        let base = 1_704_067_200_000i64;
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:00.000", Millisecond),
            Some(base)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01T00:00:00.123", Millisecond),
            Some(base + 123)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:01.5", Millisecond),
            Some(base + 1_500)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:01.123456", Millisecond),
            Some(base + 1_123)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:01.123456", Microsecond),
            Some((base + 1_123) * 1000 + 456)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:01", Second),
            Some(base / 1000 + 1)
        );
        assert_eq!(parse_timestamp(b"2024-01-01", Millisecond), Some(base));
        assert_eq!(
            parse_timestamp(b"2024-1-1 1:02", Millisecond),
            Some(base + 3_720_000)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-01T00:00:00Z", Millisecond),
            Some(base)
        );
        assert_eq!(
            parse_timestamp(b"1969-12-31 23:59:59.999", Millisecond),
            Some(-1)
        );
        assert_eq!(parse_timestamp(b"2024-02-30 00:00:00", Millisecond), None);
        assert_eq!(parse_timestamp(b"2024-01-01 24:00:00", Millisecond), None);
        assert_eq!(parse_timestamp(b"2024-01-01 00:00:00.", Millisecond), None);
        assert_eq!(
            parse_timestamp(b"2024-01-01 00:00:00.12x", Millisecond),
            None
        );
        assert_eq!(parse_timestamp(b"hello", Millisecond), None);
        assert_eq!(parse_timestamp(b"2024-01-01 00:00:00 x", Millisecond), None);
        let mut out = Vec::new();
        write_timestamp(&mut out, base + 86_399_999, Millisecond);
        assert_eq!(out, b"2024-01-01 23:59:59.999");
        out.clear();
        write_timestamp(&mut out, -1, Millisecond);
        assert_eq!(out, b"1969-12-31 23:59:59.999");
        out.clear();
        write_timestamp(&mut out, 5, Second);
        assert_eq!(out, b"1970-01-01 00:00:05");
        out.clear();
        write_timestamp(&mut out, 1_000_001, Microsecond);
        assert_eq!(out, b"1970-01-01 00:00:01.000001");
        // round trip every unit
        for unit in [Second, Millisecond, Microsecond, Nanosecond] {
            for v in [0i64, 1, -1, 1_704_067_200_123, -98_765_432_100] {
                out.clear();
                write_timestamp(&mut out, v, unit);
                assert_eq!(
                    parse_timestamp(&out, unit),
                    Some(v),
                    "{}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }

    #[test]
    fn dates_floats_bools() {
        assert_eq!(parse_date(b"2024-01-01"), Some(19_723));
        assert_eq!(parse_date(b"1970-01-01"), Some(0));
        assert_eq!(parse_date(b"2023-02-29"), None);
        assert_eq!(parse_date(b"2024-01-01x"), None);
        let mut out = Vec::new();
        write_date(&mut out, 19_723);
        assert_eq!(out, b"2024-01-01");
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-2e3"), Some(-2000.0));
        assert!(parse_f64(b"NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_f64(b"Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"x"), None);
        for v in [1.0f64, 0.1, -2.5e-9, 1e20, f64::INFINITY, f64::NEG_INFINITY] {
            out.clear();
            write_f64(&mut out, v);
            assert_eq!(parse_f64(&out), Some(v));
        }
        out.clear();
        write_f64(&mut out, 1.0);
        assert_eq!(out, b"1.0");
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"false"), Some(false));
        assert_eq!(parse_bool(b"yes"), None);
    }
}
