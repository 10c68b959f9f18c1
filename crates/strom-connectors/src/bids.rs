//! The benchmark's bid rows, exactly as `shared/bench/gen_bids.rs` writes them.
//!
//! Row `i` derives from `splitmix64(4i .. 4i+3)`: auction, bidder, price, channel, url,
//! `date_time = 2024-01-01 00:00:00.000 + floor(i/10) ms` (TIMESTAMP(3)) and extra. Used by the
//! `datagen` connector with `'generator' = 'bids'` (columnar, only the projected columns are
//! computed) and by [`write_bids_csv`] (the benchmark's CSV file).

use crate::text;
use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use strom_plan::SqlType;

/// Events per millisecond of event time.
pub const EVENTS_PER_MS: u64 = 10;
/// `2024-01-01T00:00:00Z` in epoch milliseconds: `date_time` of row 0.
pub const BASE_EPOCH_MS: i64 = 1_704_067_200_000;
const CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const LETTERS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// The bid table's columns: `(name, type)` in file order.
pub const BID_COLUMNS: [(&str, SqlType); 7] = [
    ("auction", SqlType::BigInt),
    ("bidder", SqlType::BigInt),
    ("price", SqlType::BigInt),
    ("channel", SqlType::String),
    ("url", SqlType::String),
    ("date_time", SqlType::Timestamp(3)),
    ("extra", SqlType::String),
];

/// The splitmix64 mixer all bid values derive from.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
fn r(i: u64, k: u64) -> u64 {
    splitmix64(i.wrapping_mul(4).wrapping_add(k))
}

/// One column of the bid table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidColumn {
    Auction,
    Bidder,
    Price,
    Channel,
    Url,
    DateTime,
    Extra,
}

impl BidColumn {
    pub const ALL: [BidColumn; 7] = [
        BidColumn::Auction,
        BidColumn::Bidder,
        BidColumn::Price,
        BidColumn::Channel,
        BidColumn::Url,
        BidColumn::DateTime,
        BidColumn::Extra,
    ];

    /// The column of a name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        BID_COLUMNS
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        BID_COLUMNS[self as usize].0
    }

    pub fn sql_type(self) -> SqlType {
        BID_COLUMNS[self as usize].1.clone()
    }
}

/// `auction` of row `i`.
#[inline]
pub fn auction(i: u64) -> i64 {
    (1000 + i / 5000 + r(i, 0) % 1000) as i64
}

/// `bidder` of row `i`.
#[inline]
pub fn bidder(i: u64) -> i64 {
    (1000 + i / 1000 + r(i, 1) % 10_000) as i64
}

/// `price` of row `i`.
#[inline]
pub fn price(i: u64) -> i64 {
    let r3 = r(i, 2);
    (100 + (r3 % 10_000) * ((r3 >> 32) % 1000) + (r3 >> 48) % 100) as i64
}

/// `date_time` of row `i` in epoch milliseconds.
#[inline]
pub fn date_time(i: u64) -> i64 {
    BASE_EPOCH_MS + (i / EVENTS_PER_MS) as i64
}

/// Appends `channel` of row `i`; returns the url's channel id.
#[inline]
fn channel_into(r4: u64, out: &mut Vec<u8>) -> u64 {
    let ch = r4 % 100;
    if ch < 90 {
        out.extend_from_slice(CHANNELS[(ch % 4) as usize].as_bytes());
        ch % 4
    } else {
        let n = (r4 >> 8) % 10_000;
        out.extend_from_slice(b"channel-");
        text::write_u64(out, n);
        n
    }
}

#[inline]
fn url_channel(r4: u64) -> u64 {
    let ch = r4 % 100;
    if ch < 90 {
        ch % 4
    } else {
        (r4 >> 8) % 10_000
    }
}

/// Appends `channel` of row `i`.
pub fn channel(i: u64, out: &mut Vec<u8>) {
    channel_into(r(i, 3), out);
}

/// Appends `url` of row `i`.
#[inline]
pub fn url(i: u64, out: &mut Vec<u8>) {
    url_parts(r(i, 0), r(i, 3), out);
}

#[inline]
fn url_parts(r1: u64, r4: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"https://www.nexmark.com/");
    text::write_u64(out, (r1 >> 40) % 100_000);
    out.extend_from_slice(b"/item.htm?query=1&channel_id=");
    text::write_u64(out, url_channel(r4));
}

/// Appends `extra` of row `i`.
#[inline]
pub fn extra(i: u64, out: &mut Vec<u8>) {
    extra_parts(r(i, 3), out);
}

#[inline]
fn extra_parts(r4: u64, out: &mut Vec<u8>) {
    let elen = 8 + ((r4 >> 20) % 17) as usize;
    let mut x = 0u64;
    for k in 0..elen {
        if k % 12 == 0 {
            x = splitmix64(r4.wrapping_add((k / 12) as u64));
        }
        out.push(LETTERS[(x % 26) as usize]);
        x /= 26;
    }
}

/// The rows `first, first+stride, ...` (`count` of them) of the bid columns `cols`, in that
/// order. Only these columns are computed.
pub fn bid_columns(
    cols: &[BidColumn],
    first: u64,
    stride: u64,
    count: usize,
) -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
    let idx = |j: usize| first.wrapping_add(stride.wrapping_mul(j as u64));
    cols.iter()
        .map(|c| -> Result<ArrayRef, arrow::error::ArrowError> {
            Ok(match c {
                BidColumn::Auction => Arc::new(Int64Array::new(
                    ScalarBuffer::from((0..count).map(|j| auction(idx(j))).collect::<Vec<_>>()),
                    None,
                )),
                BidColumn::Bidder => Arc::new(Int64Array::new(
                    ScalarBuffer::from((0..count).map(|j| bidder(idx(j))).collect::<Vec<_>>()),
                    None,
                )),
                BidColumn::Price => Arc::new(Int64Array::new(
                    ScalarBuffer::from((0..count).map(|j| price(idx(j))).collect::<Vec<_>>()),
                    None,
                )),
                BidColumn::DateTime => Arc::new(TimestampMillisecondArray::new(
                    ScalarBuffer::from((0..count).map(|j| date_time(idx(j))).collect::<Vec<_>>()),
                    None,
                )),
                BidColumn::Channel => strings(count, 8, |j, out| channel(idx(j), out))?,
                BidColumn::Url => strings(count, 56, |j, out| url(idx(j), out))?,
                BidColumn::Extra => strings(count, 16, |j, out| extra(idx(j), out))?,
            })
        })
        .collect()
}

fn strings(
    count: usize,
    avg: usize,
    mut f: impl FnMut(usize, &mut Vec<u8>),
) -> Result<ArrayRef, arrow::error::ArrowError> {
    let mut offsets: Vec<i32> = Vec::with_capacity(count + 1);
    let mut values: Vec<u8> = Vec::with_capacity(count * avg);
    offsets.push(0);
    for j in 0..count {
        f(j, &mut values);
        let end = i32::try_from(values.len()).map_err(|_| {
            arrow::error::ArrowError::ComputeError("string column over 2 GiB".into())
        })?;
        offsets.push(end);
    }
    Ok(Arc::new(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values.into(),
        None,
    )?))
}

/// Appends the CSV line of row `i` (as `gen_bids.rs` writes it). `ts` caches the formatted
/// timestamp of `ts.0` (epoch ms).
fn bid_line(i: u64, out: &mut Vec<u8>, ts: &mut (i64, Vec<u8>)) {
    let r1 = r(i, 0);
    let r4 = r(i, 3);
    text::write_i64(out, auction(i));
    out.push(b',');
    text::write_i64(out, bidder(i));
    out.push(b',');
    text::write_i64(out, price(i));
    out.push(b',');
    channel_into(r4, out);
    out.push(b',');
    url_parts(r1, r4, out);
    out.push(b',');
    let t = date_time(i);
    if ts.0 != t || ts.1.is_empty() {
        ts.0 = t;
        ts.1.clear();
        text::write_timestamp(&mut ts.1, t, arrow::datatypes::TimeUnit::Millisecond);
    }
    out.extend_from_slice(&ts.1);
    out.push(b',');
    extra_parts(r4, out);
    out.push(b'\n');
}

/// Appends the CSV text of rows `range` to `out`.
pub fn bids_csv_text(range: std::ops::Range<u64>, out: &mut Vec<u8>) {
    let mut ts = (i64::MIN, Vec::new());
    for i in range {
        bid_line(i, out, &mut ts);
    }
}

/// Writes `rows` bids as CSV to `path`: byte for byte the output of
/// `shared/bench/gen_bids.rs <rows> <path>` (no header).
pub fn write_bids_csv(rows: u64, path: &Path) -> std::io::Result<()> {
    const CHUNK: u64 = 32_768;
    let mut file = std::fs::File::create(path)?;
    let mut buf = Vec::with_capacity(CHUNK as usize * 140);
    let mut ts = (i64::MIN, Vec::new());
    let mut i = 0;
    while i < rows {
        let end = (i + CHUNK).min(rows);
        buf.clear();
        for k in i..end {
            bid_line(k, &mut buf, &mut ts);
        }
        file.write_all(&buf)?;
        i = end;
    }
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_rows_match_the_generator_formula() {
        // values of row 0 computed by hand from the gen_bids.rs formulas
        let r1 = splitmix64(0);
        assert_eq!(auction(0), (1000 + r1 % 1000) as i64);
        assert_eq!(date_time(9), BASE_EPOCH_MS);
        assert_eq!(date_time(10), BASE_EPOCH_MS + 1);
        let mut out = Vec::new();
        bids_csv_text(0..2, &mut out);
        let text = String::from_utf8(out).expect("ascii");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let f: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(f.len(), 7);
        assert_eq!(f[0], auction(0).to_string());
        assert_eq!(f[5], "2024-01-01 00:00:00.000");
        assert!(f[4].starts_with("https://www.nexmark.com/"));
        let elen = f[6].len();
        assert!((8..=24).contains(&elen));
    }

    #[test]
    fn columns_match_text() {
        let cols = bid_columns(&BidColumn::ALL, 5, 3, 4).expect("arrays");
        let mut out = Vec::new();
        for j in 0..4u64 {
            bids_csv_text(5 + 3 * j..6 + 3 * j, &mut out);
        }
        let batch = arrow::array::RecordBatch::try_from_iter(
            BidColumn::ALL.iter().map(|c| c.name()).zip(cols),
        )
        .expect("batch");
        let mut csv = Vec::new();
        crate::filesystem::part_file::batch_to_csv(&batch, b',', &mut csv).expect("csv");
        assert_eq!(
            String::from_utf8(csv).expect("a"),
            String::from_utf8(out).expect("b")
        );
    }
}
