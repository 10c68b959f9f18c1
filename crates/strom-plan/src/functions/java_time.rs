//! Flink's date and time patterns (Java's `SimpleDateFormat` letters: `yyyy-MM-dd HH:mm:ss.SSS`),
//! compiled once per pattern, for formatting and for parsing (`DATE_FORMAT`, `TO_TIMESTAMP`,
//! `TO_DATE`, `FROM_UNIXTIME`).
//!
//! Hand-written rather than through `chrono`'s `strftime` items: the letters and their widths
//! differ (Java pads a field to the width of its letter run; `S` counts milliseconds), and a
//! translation would still need this tokenizer.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// One piece of a pattern: a run of one pattern letter, or literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Field(char, usize),
    Text(String),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaPattern {
    pieces: Vec<Piece>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The letters Strom formats and parses (Java's `SimpleDateFormat` has a few more: week-based
/// fields `Y w W F`, which are refused with a clear error).
const LETTERS: &str = "GyMdHhKkmsSEuaDzZX";

/// Why a date pattern does not compile (Java's `IllegalArgumentException` wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("unterminated quote in date pattern '{pattern}'")]
    UnterminatedQuote { pattern: String },
    #[error("illegal pattern character '{letter}' in date pattern '{pattern}'")]
    IllegalLetter { letter: char, pattern: String },
}

impl JavaPattern {
    /// Compiles `pattern`; an unknown letter is an error, as in Java.
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        let mut pieces = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let mut text = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // '' is a quote; 'text' is literal text
                if chars.get(i + 1) == Some(&'\'') {
                    text.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(PatternError::UnterminatedQuote {
                                pattern: pattern.to_string(),
                            })
                        }
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            text.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(x) => {
                            text.push(*x);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
            } else if c.is_ascii_alphabetic() {
                if !LETTERS.contains(c) {
                    return Err(PatternError::IllegalLetter {
                        letter: c,
                        pattern: pattern.to_string(),
                    });
                }
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(c, n));
                i += n;
            } else {
                text.push(c);
                i += 1;
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// Formats a date-time (the session time zone, UTC, is the zone).
    #[cfg(test)]
    pub fn format(&self, t: &NaiveDateTime) -> String {
        let mut out = String::new();
        self.format_into(t, &mut out);
        out
    }

    /// Formats a date-time (the session time zone, UTC, is the zone), appended to `out`.
    pub fn format_into(&self, t: &NaiveDateTime, out: &mut String) {
        // `v` with at least `n` digits (zeros in front), without the formatting machinery
        let pad = |out: &mut String, v: i64, n: usize| {
            if v < 0 {
                use std::fmt::Write;
                let _ = write!(out, "{v:0n$}");
                return;
            }
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            let mut x = v as u64;
            loop {
                i -= 1;
                digits[i] = b'0' + (x % 10) as u8;
                x /= 10;
                if x == 0 {
                    break;
                }
            }
            for _ in digits.len() - i..n {
                out.push('0');
            }
            out.extend(digits[i..].iter().map(|d| *d as char));
        };
        for p in &self.pieces {
            match p {
                Piece::Text(s) => out.push_str(s),
                Piece::Field(c, n) => {
                    let n = *n;
                    match c {
                        'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
                        'y' if n == 2 => pad(out, (t.year() % 100) as i64, 2),
                        'y' => pad(out, t.year() as i64, n),
                        'M' if n >= 4 => out.push_str(MONTHS[t.month0() as usize]),
                        'M' if n == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                        'M' => pad(out, t.month() as i64, n),
                        'd' => pad(out, t.day() as i64, n),
                        'D' => pad(out, t.ordinal() as i64, n),
                        'H' => pad(out, t.hour() as i64, n),
                        'k' => pad(out, if t.hour() == 0 { 24 } else { t.hour() } as i64, n),
                        'K' => pad(out, (t.hour() % 12) as i64, n),
                        'h' => pad(
                            out,
                            [12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11][t.hour() as usize % 12],
                            n,
                        ),
                        'm' => pad(out, t.minute() as i64, n),
                        's' => pad(out, t.second() as i64, n),
                        'S' => pad(out, (t.nanosecond() / 1_000_000) as i64, n),
                        'E' => {
                            let d = DAYS[t.weekday().num_days_from_monday() as usize];
                            out.push_str(if n >= 4 { d } else { &d[..3] })
                        }
                        'u' => pad(out, t.weekday().number_from_monday() as i64, n),
                        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                        'z' => out.push_str("UTC"),
                        'Z' => out.push_str("+0000"),
                        'X' => out.push('Z'),
                        _ => unreachable!("checked when compiling"),
                    }
                }
            }
        }
    }

    /// Parses `s` as a whole; `None` when it does not match (Flink's functions answer NULL).
    pub fn parse(&self, s: &str) -> Option<NaiveDateTime> {
        let mut i = 0;
        let mut f = Parsed::default();
        for (k, p) in self.pieces.iter().enumerate() {
            match p {
                Piece::Text(t) => {
                    if !s[i..].starts_with(t.as_str()) {
                        return None;
                    }
                    i += t.len();
                }
                Piece::Field(c, n) => {
                    // a numeric field followed directly by another field takes exactly its width
                    let adjacent = matches!(self.pieces.get(k + 1), Some(Piece::Field(..)));
                    f.field(s, &mut i, *c, *n, adjacent)?;
                }
            }
        }
        if i != s.len() {
            return None;
        }
        f.date_time()
    }
}

/// The fields read so far by [`JavaPattern::parse`] (Java's defaults: 1970-01-01 00:00).
struct Parsed {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    pm: Option<bool>,
    hour12: bool,
    ordinal: Option<u32>,
}

impl Default for Parsed {
    fn default() -> Self {
        Self {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            pm: None,
            hour12: false,
            ordinal: None,
        }
    }
}

/// Reads the digits of a numeric field of `n` letters at `*i` (at most `max` digits, exactly
/// `n` when `adjacent` to another field): the value and its width.
fn number(s: &str, i: &mut usize, n: usize, adjacent: bool, max: usize) -> Option<(u64, usize)> {
    let b = s.as_bytes();
    let width = if adjacent { n } else { max.max(n) };
    let start = *i;
    while *i < b.len() && *i - start < width && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start || adjacent && *i - start != n {
        return None;
    }
    Some((s[start..*i].parse().ok()?, *i - start))
}

/// A month's name (`n` >= 4 letters: full or abbreviated) at the start of `rest`: the month
/// (0-based) and the length read.
fn month_name(rest: &str, n: usize) -> Option<(usize, usize)> {
    let rest = rest.to_ascii_lowercase();
    MONTHS.iter().enumerate().find_map(|(m, name)| {
        let name = name.to_ascii_lowercase();
        if n >= 4 && rest.starts_with(&name) {
            Some((m, name.len()))
        } else if rest.starts_with(&name[..3]) {
            Some((m, 3))
        } else {
            None
        }
    })
}

/// The length of a day's name (full or abbreviated) at the start of `rest`.
fn day_name_len(rest: &str) -> Option<usize> {
    let rest = rest.to_ascii_lowercase();
    DAYS.iter().find_map(|d| {
        let d = d.to_ascii_lowercase();
        if rest.starts_with(&d) {
            Some(d.len())
        } else if rest.starts_with(&d[..3]) {
            Some(3)
        } else {
            None
        }
    })
}

impl Parsed {
    /// Reads the field of letter `c` (`n` letters) at `*i`; None when it does not match.
    fn field(&mut self, s: &str, i: &mut usize, c: char, n: usize, adjacent: bool) -> Option<()> {
        let mut number = |max: usize| number(s, i, n, adjacent, max);
        match c {
            'y' => {
                let (v, w) = number(9)?;
                self.year = if n == 2 && w == 2 {
                    2000 + v as i32
                } else {
                    v as i32
                };
            }
            'M' if n >= 3 => {
                let (m, len) = month_name(&s[*i..], n)?;
                self.month = m as u32 + 1;
                *i += len;
            }
            'M' => self.month = number(2)?.0 as u32,
            'd' => self.day = number(2)?.0 as u32,
            'D' => self.ordinal = Some(number(3)?.0 as u32),
            'H' | 'k' => self.hour = number(2)?.0 as u32 % 24,
            'h' | 'K' => {
                self.hour = number(2)?.0 as u32 % 12;
                self.hour12 = true;
            }
            'm' => self.minute = number(2)?.0 as u32,
            's' => self.second = number(2)?.0 as u32,
            'S' => {
                // Java counts milliseconds; a longer run of digits is a fraction
                let (v, w) = number(9)?;
                self.nanos = if w <= 3 && n <= 3 {
                    v as u32 * 1_000_000
                } else {
                    (v * 10u64.pow(9 - w as u32)) as u32
                };
            }
            'a' => {
                let rest = s[*i..].to_ascii_uppercase();
                self.pm = Some(if rest.starts_with("PM") {
                    true
                } else if rest.starts_with("AM") {
                    false
                } else {
                    return None;
                });
                *i += 2;
            }
            'E' => *i += day_name_len(&s[*i..])?,
            'u' => {
                number(1)?;
            }
            'G' if s[*i..].starts_with("AD") || s[*i..].starts_with("BC") => *i += 2,
            'G' => return None,
            'z' | 'Z' | 'X' => {
                // only UTC is the session zone here
                let rest = &s[*i..];
                *i += ["UTC", "+0000", "+00:00", "Z", "GMT"]
                    .iter()
                    .find(|z| rest.starts_with(*z))?
                    .len();
            }
            _ => return None,
        }
        Some(())
    }

    /// The date-time the fields make; None when they make none.
    fn date_time(mut self) -> Option<NaiveDateTime> {
        if self.hour12 && self.pm == Some(true) {
            self.hour += 12;
        }
        let date = match self.ordinal {
            Some(o) => NaiveDate::from_yo_opt(self.year, o)?,
            None => NaiveDate::from_ymd_opt(self.year, self.month, self.day)?,
        };
        let time = NaiveTime::from_hms_nano_opt(self.hour, self.minute, self.second, self.nanos)?;
        Some(NaiveDateTime::new(date, time))
    }
}

/// Flink's lenient default parse of a timestamp string (`TO_TIMESTAMP(s)`, `CAST`): a date
/// `yyyy-MM-dd`, optionally followed by ` ` or `T` and `HH:mm[:ss[.fraction]]`.
pub fn parse_default_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let (date, time) = match s.find([' ', 'T']) {
        Some(k) => (&s[..k], Some(&s[k + 1..])),
        None => (s, None),
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = match time {
        None => NaiveTime::MIN,
        Some(t) => NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            .ok()?,
    };
    Some(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn formats_as_java_simple_date_format() {
        let ts = t("2020-04-15 13:07:09.042");
        let f = |p: &str| JavaPattern::compile(p).unwrap().format(&ts);
        assert_eq!(f("yyyy-MM-dd"), "2020-04-15");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss"), "2020-04-15 13:07:09");
        assert_eq!(f("HH:mm"), "13:07");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2020-04-15 13:07:09.042");
        assert_eq!(f("yy/M/d h:m a"), "20/4/15 1:7 PM");
        assert_eq!(f("EEE, MMM d ''yy"), "Wed, Apr 15 '20");
        assert_eq!(f("EEEE MMMM"), "Wednesday April");
        assert_eq!(f("yyyyMMddHHmmss"), "20200415130709");
        assert_eq!(f("'at' HH 'o''clock'"), "at 13 o'clock");
        assert_eq!(f("D k K"), "106 13 1");
        let midnight = t("2020-01-01 00:00:00.000");
        let g = |p: &str| JavaPattern::compile(p).unwrap().format(&midnight);
        assert_eq!(g("hh a k K"), "12 AM 24 0");
        assert!(JavaPattern::compile("yyyy-MM-dd q").is_err());
        assert!(JavaPattern::compile("'open").is_err());
    }

    #[test]
    fn parses_what_it_formats_and_nothing_else() {
        let p = |pat: &str, s: &str| JavaPattern::compile(pat).unwrap().parse(s);
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss", "2020-04-15 13:07:09"),
            Some(t("2020-04-15 13:07:09.000"))
        );
        assert_eq!(
            p("yyyyMMddHHmmss", "20200415130709"),
            Some(t("2020-04-15 13:07:09.000"))
        );
        assert_eq!(
            p("dd/MM/yyyy hh:mm a", "15/04/2020 01:07 PM"),
            Some(t("2020-04-15 13:07:00.000"))
        );
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss.SSS", "2020-04-15 13:07:09.042"),
            Some(t("2020-04-15 13:07:09.042"))
        );
        assert_eq!(
            p("dd MMM yyyy", "15 Apr 2020"),
            Some(t("2020-04-15 00:00:00.000"))
        );
        assert_eq!(p("yyyy-MM-dd", "2020-02-30"), None);
        assert_eq!(p("yyyy-MM-dd", "2020-04-15 x"), None);
        assert_eq!(p("yyyy-MM-dd", "nope"), None);
    }

    #[test]
    fn parses_flink_default_timestamps() {
        assert_eq!(
            parse_default_timestamp("1970-01-01 00:00:44"),
            Some(t("1970-01-01 00:00:44.000"))
        );
        assert_eq!(
            parse_default_timestamp("2020-04-15T13:07:09.5"),
            Some(t("2020-04-15 13:07:09.500"))
        );
        assert_eq!(
            parse_default_timestamp("2020-04-15"),
            Some(t("2020-04-15 00:00:00.000"))
        );
        assert_eq!(parse_default_timestamp("15.04.2020"), None);
    }
}
