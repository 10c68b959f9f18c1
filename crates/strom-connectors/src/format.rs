//! Value text of Arrow columns for the CSV and JSON writers and the print sink.
//!
//! Integers plain; decimals as plain text with exactly `scale` fraction digits; floats in their
//! shortest round-trip text (`1.0`, `1e20`, `NaN`, `Infinity`); dates `YYYY-MM-DD`; timestamps
//! `YYYY-MM-DD HH:MM:SS[.fff]` with the unit's fraction digits (3 for `TIMESTAMP(3)`), UTC.
//! The print sink writes a DOUBLE as Flink does, with Java's text (`1.0E10`, `1.0E-4`).

use crate::text;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The [`ColumnText`] of every column of `batch`.
pub fn column_texts(
    batch: &arrow::array::RecordBatch,
) -> Result<Vec<ColumnText<'_>>, strom_runtime::ConnectorError> {
    batch
        .columns()
        .iter()
        .map(|a| {
            ColumnText::new(a).map_err(|e| {
                strom_runtime::ConnectorError::Other(format!("cannot format column: {e}"))
            })
        })
        .collect()
}

/// How values are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// CSV: NULL is empty; strings quoted when they contain the delimiter, a quote or a line
    /// break (and `""` for an empty string, to tell it from NULL).
    Csv { delimiter: u8 },
    /// JSON values: numbers as numbers, strings/dates/timestamps as JSON strings, `null`.
    Json,
    /// Flink's print sink: values unquoted, NULL as `null`.
    Print,
}

enum Kind<'a> {
    Null,
    Bool(&'a arrow::array::BooleanArray),
    Int(IntVals<'a>),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Dec(&'a [i128], i8),
    Str(&'a arrow::array::StringArray),
    LargeStr(&'a arrow::array::LargeStringArray),
    StrView(&'a arrow::array::StringViewArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    Ts(&'a [i64], TimeUnit),
    /// An ARRAY: a JSON array in JSON; other styles take the Arrow text of `text`.
    List {
        offsets: &'a [i32],
        values: Box<ColumnText<'a>>,
        text: ArrayFormatter<'a>,
    },
    /// A ROW: a JSON object of its fields in JSON; other styles take the Arrow text of `text`.
    Struct {
        names: Vec<&'a str>,
        fields: Vec<ColumnText<'a>>,
        text: ArrayFormatter<'a>,
    },
    /// A MAP (and a MULTISET, a map to counts): printed as Flink prints a Java map,
    /// `{k1=v1, k2=v2}`; a JSON object in JSON (keys as their text); CSV takes the Arrow text
    /// of `text`.
    Map {
        offsets: &'a [i32],
        keys: Box<ColumnText<'a>>,
        values: Box<ColumnText<'a>>,
        text: ArrayFormatter<'a>,
    },
    Other(ArrayFormatter<'a>),
}

enum IntVals<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
}

/// One column of a batch, ready to render row by row.
pub struct ColumnText<'a> {
    array: &'a dyn Array,
    kind: Kind<'a>,
}

/// Nested values (ARRAY, MAP, ROW): a NULL inside is `null`, as Flink prints it.
static FORMAT_OPTIONS: FormatOptions<'static> = FormatOptions::new().with_null("null");

impl<'a> ColumnText<'a> {
    pub fn new(array: &'a ArrayRef) -> Result<Self, arrow::error::ArrowError> {
        let a = array.as_ref();
        let kind = match a.data_type() {
            DataType::Null => Kind::Null,
            DataType::Boolean => Kind::Bool(a.as_boolean()),
            DataType::Int8 => Kind::Int(IntVals::I8(a.as_primitive::<Int8Type>().values())),
            DataType::Int16 => Kind::Int(IntVals::I16(a.as_primitive::<Int16Type>().values())),
            DataType::Int32 => Kind::Int(IntVals::I32(a.as_primitive::<Int32Type>().values())),
            DataType::Int64 => Kind::Int(IntVals::I64(a.as_primitive::<Int64Type>().values())),
            DataType::UInt8 => Kind::Int(IntVals::U8(a.as_primitive::<UInt8Type>().values())),
            DataType::UInt16 => Kind::Int(IntVals::U16(a.as_primitive::<UInt16Type>().values())),
            DataType::UInt32 => Kind::Int(IntVals::U32(a.as_primitive::<UInt32Type>().values())),
            DataType::UInt64 => Kind::Int(IntVals::U64(a.as_primitive::<UInt64Type>().values())),
            DataType::Float32 => Kind::F32(a.as_primitive::<Float32Type>().values()),
            DataType::Float64 => Kind::F64(a.as_primitive::<Float64Type>().values()),
            DataType::Decimal128(_, s) => {
                Kind::Dec(a.as_primitive::<Decimal128Type>().values(), *s)
            }
            DataType::Utf8 => Kind::Str(a.as_string::<i32>()),
            DataType::LargeUtf8 => Kind::LargeStr(a.as_string::<i64>()),
            DataType::Utf8View => Kind::StrView(a.as_string_view()),
            DataType::Date32 => Kind::Date32(a.as_primitive::<Date32Type>().values()),
            DataType::Date64 => Kind::Date64(a.as_primitive::<Date64Type>().values()),
            DataType::Timestamp(u, _) => {
                let v: &[i64] = match u {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().values(),
                    TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().values(),
                    TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().values(),
                };
                Kind::Ts(v, *u)
            }
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                Kind::List {
                    offsets: l.value_offsets(),
                    values: Box::new(ColumnText::new(l.values())?),
                    text: ArrayFormatter::try_new(a, &FORMAT_OPTIONS)?,
                }
            }
            DataType::Struct(fs) => {
                let st = a.as_struct();
                Kind::Struct {
                    names: fs.iter().map(|f| f.name().as_str()).collect(),
                    fields: st
                        .columns()
                        .iter()
                        .map(ColumnText::new)
                        .collect::<Result<_, _>>()?,
                    text: ArrayFormatter::try_new(a, &FORMAT_OPTIONS)?,
                }
            }
            DataType::Map(..) => {
                let m = a.as_map();
                Kind::Map {
                    offsets: m.value_offsets(),
                    keys: Box::new(ColumnText::new(m.keys())?),
                    values: Box::new(ColumnText::new(m.values())?),
                    text: ArrayFormatter::try_new(a, &FORMAT_OPTIONS)?,
                }
            }
            _ => Kind::Other(ArrayFormatter::try_new(a, &FORMAT_OPTIONS)?),
        };
        Ok(Self { array: a, kind })
    }

    /// Appends the text of row `row`.
    #[inline]
    pub fn write(&self, row: usize, out: &mut Vec<u8>, style: Style) {
        if self.array.is_null(row) || matches!(self.kind, Kind::Null) {
            match style {
                Style::Csv { .. } => {}
                Style::Json | Style::Print => out.extend_from_slice(b"null"),
            }
            return;
        }
        let quoted = matches!(style, Style::Json);
        match &self.kind {
            Kind::Null => {}
            Kind::Bool(b) => out.extend_from_slice(if b.value(row) { b"true" } else { b"false" }),
            Kind::Int(v) => match v {
                IntVals::I8(v) => text::write_i64(out, v[row] as i64),
                IntVals::I16(v) => text::write_i64(out, v[row] as i64),
                IntVals::I32(v) => text::write_i64(out, v[row] as i64),
                IntVals::I64(v) => text::write_i64(out, v[row]),
                IntVals::U8(v) => text::write_u64(out, v[row] as u64),
                IntVals::U16(v) => text::write_u64(out, v[row] as u64),
                IntVals::U32(v) => text::write_u64(out, v[row] as u64),
                IntVals::U64(v) => text::write_u64(out, v[row]),
            },
            Kind::F32(v) => {
                let x = v[row];
                if quoted && !x.is_finite() {
                    out.push(b'"');
                    text::write_f32(out, x);
                    out.push(b'"');
                } else {
                    text::write_f32(out, x);
                }
            }
            Kind::F64(v) if style == Style::Print => {
                // Flink prints a DOUBLE with Java's text, as its CAST to STRING (`1.0E10`)
                out.extend_from_slice(
                    strom_plan::functions::cast_string::java_double(v[row]).as_bytes(),
                );
            }
            Kind::F64(v) => {
                let x = v[row];
                if quoted && !x.is_finite() {
                    out.push(b'"');
                    text::write_f64(out, x);
                    out.push(b'"');
                } else {
                    text::write_f64(out, x);
                }
            }
            Kind::Dec(v, s) => text::write_decimal(out, v[row], *s),
            Kind::Str(a) => write_str(out, a.value(row).as_bytes(), style),
            Kind::LargeStr(a) => write_str(out, a.value(row).as_bytes(), style),
            Kind::StrView(a) => write_str(out, a.value(row).as_bytes(), style),
            Kind::Date32(v) => {
                quote_if(out, quoted);
                text::write_date(out, v[row] as i64);
                quote_if(out, quoted);
            }
            Kind::Date64(v) => {
                quote_if(out, quoted);
                text::write_date(out, v[row].div_euclid(86_400_000));
                quote_if(out, quoted);
            }
            Kind::Ts(v, u) => {
                quote_if(out, quoted);
                text::write_timestamp(out, v[row], *u);
                quote_if(out, quoted);
            }
            Kind::List { .. } | Kind::Struct { .. } | Kind::Map { .. } => {
                self.write_collection(row, out, style)
            }
            Kind::Other(f) => {
                let s = f.value(row).to_string();
                write_str(out, s.as_bytes(), style);
            }
        }
    }

    /// Appends the text of row `row` of an ARRAY, ROW or MAP column.
    fn write_collection(&self, row: usize, out: &mut Vec<u8>, style: Style) {
        match &self.kind {
            Kind::Map {
                offsets,
                keys,
                values,
                ..
            } if style == Style::Print => {
                delimited(
                    out,
                    (b'{', b", ", b'}'),
                    offsets[row]..offsets[row + 1],
                    |e, out| {
                        keys.write(e, out, style);
                        out.push(b'=');
                        values.write(e, out, style);
                    },
                );
            }
            Kind::List {
                offsets, values, ..
            } if style == Style::Json => {
                delimited(
                    out,
                    (b'[', b",", b']'),
                    offsets[row]..offsets[row + 1],
                    |e, out| values.write(e, out, style),
                );
            }
            Kind::Struct { names, fields, .. } if style == Style::Json => {
                delimited(out, (b'{', b",", b'}'), 0..names.len() as i32, |i, out| {
                    write_json_string(out, names[i].as_bytes());
                    out.push(b':');
                    fields[i].write(row, out, style);
                });
            }
            Kind::Map {
                offsets,
                keys,
                values,
                ..
            } if style == Style::Json => {
                let mut key = Vec::new();
                delimited(
                    out,
                    (b'{', b",", b'}'),
                    offsets[row]..offsets[row + 1],
                    |e, out| {
                        key.clear();
                        keys.write(e, &mut key, Style::Print);
                        write_json_string(out, &key);
                        out.push(b':');
                        values.write(e, out, style);
                    },
                );
            }
            Kind::List { text: f, .. }
            | Kind::Struct { text: f, .. }
            | Kind::Map { text: f, .. } => {
                let s = f.value(row).to_string();
                write_str(out, s.as_bytes(), style);
            }
            _ => {}
        }
    }
}

/// `open`, `each` of the items `items` separated by `sep`, `close`.
fn delimited(
    out: &mut Vec<u8>,
    (open, sep, close): (u8, &[u8], u8),
    items: std::ops::Range<i32>,
    mut each: impl FnMut(usize, &mut Vec<u8>),
) {
    out.push(open);
    for i in items.clone() {
        if i > items.start {
            out.extend_from_slice(sep);
        }
        each(i as usize, out);
    }
    out.push(close);
}

#[inline]
fn quote_if(out: &mut Vec<u8>, q: bool) {
    if q {
        out.push(b'"');
    }
}

/// Appends a string value in `style`.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8], style: Style) {
    match style {
        Style::Print => out.extend_from_slice(s),
        Style::Csv { delimiter } => {
            let needs = s.is_empty()
                || memchr::memchr3(delimiter, b'"', b'\n', s).is_some()
                || memchr::memchr(b'\r', s).is_some();
            if needs {
                out.push(b'"');
                for &b in s {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(s);
            }
        }
        Style::Json => write_json_string(out, s),
    }
}

/// Appends a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// A character for messages (`\t` for tab).
pub fn printable_char(c: u8) -> String {
    match c {
        b'\t' => "\\t".to_string(),
        c if c.is_ascii_graphic() || c == b' ' => (c as char).to_string(),
        c => format!("\\x{c:02x}"),
    }
}

/// Bad input text for an error message: lossy UTF-8, at most 200 characters.
pub fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 200 {
        let mut t: String = s.chars().take(200).collect();
        t.push_str("...");
        t
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
    };
    use std::sync::Arc;

    fn render(a: ArrayRef, style: Style) -> Vec<String> {
        let t = ColumnText::new(&a).expect("supported");
        (0..a.len())
            .map(|r| {
                let mut out = Vec::new();
                t.write(r, &mut out, style);
                String::from_utf8(out).expect("utf8")
            })
            .collect()
    }

    #[test]
    fn csv_values() {
        let csv = Style::Csv { delimiter: b',' };
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            Some("x\ny"),
            Some(""),
            None,
        ]));
        assert_eq!(
            render(a, csv),
            vec![
                "plain",
                "\"a,b\"",
                "\"say \"\"hi\"\"\"",
                "\"x\ny\"",
                "\"\"",
                ""
            ]
        );
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(90_800), Some(-5), None])
                .with_precision_and_scale(23, 3)
                .expect("valid"),
        );
        assert_eq!(render(d, csv), vec!["90.800", "-0.005", ""]);
        let t: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_067_200_001),
            None,
        ]));
        assert_eq!(render(t.clone(), csv), vec!["2024-01-01 00:00:00.001", ""]);
        assert_eq!(
            render(t, Style::Json),
            vec!["\"2024-01-01 00:00:00.001\"", "null"]
        );
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(-3), None]));
        assert_eq!(render(i, Style::Print), vec!["-3", "null"]);
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1.0, f64::NAN]));
        assert_eq!(render(f.clone(), csv), vec!["1.0", "NaN"]);
        assert_eq!(render(f, Style::Json), vec!["1.0", "\"NaN\""]);
        // the print sink: Java's text, as Flink prints a DOUBLE
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1e10, 0.5, 1e-4]));
        assert_eq!(render(f, Style::Print), vec!["1.0E10", "0.5", "1.0E-4"]);
    }

    /// Nested values: JSON arrays and objects in JSON (as Flink's JSON format writes them), a
    /// map printed as Flink prints a Java map, Arrow's text in CSV.
    #[test]
    fn nested_values() {
        use arrow::array::{Int64Builder, ListBuilder, MapBuilder, StringBuilder, StructArray};
        use arrow::datatypes::{DataType, Field};
        let mut lb = ListBuilder::new(Int64Builder::new());
        lb.append_value([Some(1), None, Some(3)]);
        lb.append_null();
        lb.append_value([]);
        let list: ArrayRef = Arc::new(lb.finish());
        assert_eq!(
            render(list.clone(), Style::Json),
            vec!["[1,null,3]", "null", "[]"]
        );
        assert_eq!(
            render(list, Style::Print),
            vec!["[1, null, 3]", "null", "[]"]
        );
        let mut mb = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        mb.keys().append_value("a\"");
        mb.values().append_value(2);
        mb.keys().append_value("b");
        mb.values().append_null();
        mb.append(true).expect("map");
        mb.append(true).expect("map");
        let map: ArrayRef = Arc::new(mb.finish());
        assert_eq!(
            render(map.clone(), Style::Json),
            vec![r#"{"a\"":2,"b":null}"#, "{}"]
        );
        assert_eq!(render(map, Style::Print), vec!["{a\"=2, b=null}", "{}"]);
        let row: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("y", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![Some("p"), Some("q")])) as ArrayRef,
            ),
        ]));
        let json = render(row, Style::Json);
        assert_eq!(json, vec![r#"{"x":1,"y":"p"}"#, r#"{"x":null,"y":"q"}"#]);
        for j in json {
            serde_json::from_str::<serde_json::Value>(&j).expect("valid JSON");
        }
    }

    #[test]
    fn json_strings() {
        let mut out = Vec::new();
        write_json_string(&mut out, "a\"b\\c\nd\u{1}é".as_bytes());
        assert_eq!(
            String::from_utf8(out.clone()).expect("utf8"),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
        let back: String = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
