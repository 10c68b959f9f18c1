//! Flink's JSON functions (DataFusion has none):
//!
//! - `JSON_VALUE(json, path)`: the scalar at `path` as a STRING (a JSON string unquoted, a
//!   number or boolean as written); NULL when the path selects nothing, an object or an array,
//!   or when `json` is not JSON (Flink's defaults, `NULL ON EMPTY` and `NULL ON ERROR`).
//!   `RETURNING type` becomes a CAST of that string, and `{NULL | ERROR | DEFAULT expr} ON EMPTY`
//!   / `ON ERROR` arrive as four more arguments (`strom_sql::json_syntax`).
//! - `JSON_QUERY(json, path)`: the object or array at `path` as JSON text; a path with
//!   wildcards, slices, unions, filters or `..` gives the array of what it selects (as Jayway's
//!   JsonPath, which Flink uses); NULL for a scalar, for nothing, and on error.
//! - `JSON_EXISTS(json, path)`: whether `path` selects something (FALSE on error).
//! - `json IS [NOT] JSON [VALUE | SCALAR | ARRAY | OBJECT]` (`is_json(json, kind)`).
//! - `JSON_STRING(x)`: `x` as JSON text (NULL for NULL).
//! - `JSON_OBJECT([KEY] k VALUE v, ... [NULL | ABSENT ON NULL])` and `JSON_ARRAY(v, ...
//!   [NULL | ABSENT ON NULL])`: the planner passes every value as JSON text (`JSON_STRING` of it,
//!   or the text of a nested `JSON_OBJECT` / `JSON_ARRAY` as it is) after a first BOOLEAN
//!   argument, whether NULL values are written as `null` (Flink's defaults: `NULL ON NULL` for
//!   objects, `ABSENT ON NULL` for arrays).
//! - `JSON_ARRAYAGG` and `JSON_OBJECTAGG` are `ARRAY_AGG` of the values' JSON texts (of
//!   `{k, v}` rows) finished by `json_arrayagg_result` / `json_objectagg_result`: an array in
//!   arrival order, an object with its keys sorted; a NULL key or a key given twice fails the
//!   query, as in Flink.
//!
//! Paths are RFC 9535 JSONPath (`$.a.b`, `$.a[0]`, `$['k']`, `$.a[*]`, `$..a`, filters), with
//! Flink's optional `lax` / `strict` mode word in front (both read as lax here). A constant
//! path that does not parse fails at planning.

use super::strings::is_string;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericListArray, OffsetSizeTrait, StringArray,
    StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;
use serde_json_path::JsonPath;
use std::collections::HashMap;
use std::sync::Arc;

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonFn {
    Value,
    Query,
    Exists,
    IsJson,
    String,
    Object,
    Array,
    ArrayAggResult,
    ObjectAggResult,
}

impl JsonFn {
    pub const ALL: [JsonFn; 9] = [
        JsonFn::Value,
        JsonFn::Query,
        JsonFn::Exists,
        JsonFn::IsJson,
        JsonFn::String,
        JsonFn::Object,
        JsonFn::Array,
        JsonFn::ArrayAggResult,
        JsonFn::ObjectAggResult,
    ];
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonFunc {
    kind: JsonFn,
    signature: Signature,
}

impl JsonFunc {
    pub fn new(kind: JsonFn) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// A compiled path and whether it selects at most one value (no wildcard, slice, union, filter
/// or descendant segment).
struct Path {
    path: JsonPath,
    definite: bool,
    /// `strict $...`: a missing value or a scalar where JSON_QUERY wants an array or object is
    /// an error (`lax`, the default: empty).
    strict: bool,
}

impl Path {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim_start();
        let mode = |m: &str| {
            t.strip_prefix(m)
                .filter(|rest| rest.starts_with(char::is_whitespace))
        };
        let strict = mode("strict").is_some();
        let t = mode("lax").or(mode("strict")).unwrap_or(t).trim();
        let path = JsonPath::parse(t).map_err(|e| format!("invalid JSON path '{text}': {e}"))?;
        Ok(Self {
            path,
            definite: is_definite(t),
            strict,
        })
    }
}

/// Whether `path` names one place: none of `*`, `..`, `?`, `:` or `,` outside quoted names.
fn is_definite(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for c in path.chars() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if matches!(c, '*' | '?' | ':' | ',') => return false,
            None if c == '.' && prev == '.' => return false,
            None => {}
        }
        prev = c;
    }
    true
}

/// The text JSON_VALUE gives for a scalar; `None` for null, objects and arrays.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The paths of a batch: one compiled path per distinct text (a constant path compiles once).
#[derive(Default)]
struct Paths(HashMap<String, std::result::Result<Path, String>>);

impl Paths {
    fn get(&mut self, text: &str) -> &std::result::Result<Path, String> {
        self.0
            .entry(text.to_string())
            .or_insert_with(|| Path::parse(text))
    }
}

impl JsonFunc {
    fn usage(&self) -> &'static str {
        match self.kind {
            JsonFn::Value => "JSON_VALUE(json, path)",
            JsonFn::Query => "JSON_QUERY(json, path)",
            JsonFn::Exists => "JSON_EXISTS(json, path)",
            JsonFn::IsJson => "json IS JSON [VALUE | SCALAR | ARRAY | OBJECT]",
            JsonFn::String => "JSON_STRING(value)",
            JsonFn::Object => "JSON_OBJECT([KEY] key VALUE value, ...)",
            JsonFn::Array => "JSON_ARRAY(value, ...)",
            JsonFn::ArrayAggResult => "JSON_ARRAYAGG(value)",
            JsonFn::ObjectAggResult => "JSON_OBJECTAGG([KEY] key VALUE value)",
        }
    }

    /// A json and a path argument, both strings.
    fn json_and_path(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [j, p] if is_string(j) && is_string(p) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => plan_err!(
                "{} takes a JSON string and a path string, got ({})",
                self.usage(),
                types(args)
            ),
        }
    }
}

fn types(args: &[DataType]) -> String {
    args.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ScalarUDFImpl for JsonFunc {
    fn name(&self) -> &str {
        match self.kind {
            JsonFn::Value => "json_value",
            JsonFn::Query => "json_query",
            JsonFn::Exists => "json_exists",
            JsonFn::IsJson => "is_json",
            JsonFn::String => "json_string",
            JsonFn::Object => "json_object_texts",
            JsonFn::Array => "json_array_texts",
            JsonFn::ArrayAggResult => "json_arrayagg_result",
            JsonFn::ObjectAggResult => "json_objectagg_result",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            JsonFn::Exists | JsonFn::IsJson => DataType::Boolean,
            _ => DataType::Utf8,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        // a constant path that does not parse fails here, at planning
        if matches!(self.kind, JsonFn::Value | JsonFn::Query | JsonFn::Exists) {
            let path = args.scalar_arguments.get(1).copied().flatten();
            if let Some(Some(p)) = path.and_then(ScalarValue::try_as_str) {
                if let Err(e) = Path::parse(p) {
                    return plan_err!("{}: {e}", self.usage());
                }
            }
        }
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        // NULL only from NULL arguments, or where the function says so
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            true,
        )))
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match self.kind {
            JsonFn::Value if args.len() == 6 && args.iter().all(is_string) => {
                Ok(vec![DataType::Utf8; 6])
            }
            JsonFn::Query if args.len() == 5 && args.iter().all(is_string) => {
                Ok(vec![DataType::Utf8; 5])
            }
            JsonFn::Exists if args.len() == 3 && args.iter().all(is_string) => {
                Ok(vec![DataType::Utf8; 3])
            }
            JsonFn::Value | JsonFn::Query | JsonFn::Exists => self.json_and_path(args),
            JsonFn::IsJson => match args {
                [j, k] if is_string(j) && is_string(k) => Ok(vec![DataType::Utf8, DataType::Utf8]),
                _ => plan_err!("{}: the operand must be a string", self.usage()),
            },
            JsonFn::String => match args {
                [t] => Ok(vec![t.clone()]),
                _ => plan_err!("{} takes one argument", self.usage()),
            },
            JsonFn::Object | JsonFn::Array => {
                let Some((first, values)) = args.split_first() else {
                    return plan_err!("internal: {} without its NULL clause", self.usage());
                };
                if !matches!(first, DataType::Boolean) {
                    return plan_err!("internal: {} without its NULL clause", self.usage());
                }
                if self.kind == JsonFn::Object && values.len() % 2 != 0 {
                    return plan_err!("{} takes keys and values in pairs", self.usage());
                }
                let mut out = vec![DataType::Boolean];
                for (i, t) in values.iter().enumerate() {
                    let is_key = self.kind == JsonFn::Object && i % 2 == 0;
                    if is_key && !is_string(t) {
                        return plan_err!("{}: a key must be a string, got {t}", self.usage());
                    }
                    out.push(DataType::Utf8);
                }
                Ok(out)
            }
            JsonFn::ArrayAggResult | JsonFn::ObjectAggResult => Ok(args.to_vec()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = super::arrays(&args)?;
        let text = |i: usize| super::utf8(&arrays[i]);
        let out: ArrayRef = match self.kind {
            JsonFn::Value if arrays.len() == 6 => {
                let (json, path) = (text(0)?, text(1)?);
                let behaviors = [text(2)?, text(3)?, text(4)?, text(5)?];
                json_value_with(&json, &path, &behaviors)?
            }
            JsonFn::Exists if arrays.len() == 3 => {
                json_exists_with(&text(0)?, &text(1)?, &text(2)?)?
            }
            JsonFn::Query if arrays.len() == 5 => {
                let (json, path) = (text(0)?, text(1)?);
                json_query_with(&json, &path, &[text(2)?, text(3)?, text(4)?])?
            }
            JsonFn::Value | JsonFn::Query | JsonFn::Exists => {
                let (json, path) = (text(0)?, text(1)?);
                self.query(&json, &path)?
            }
            JsonFn::IsJson => {
                let (json, kind) = (text(0)?, text(1)?);
                Arc::new(
                    (0..n)
                        .map(|r| {
                            (json.is_valid(r) && kind.is_valid(r))
                                .then(|| is_json(json.value(r), kind.value(r)))
                        })
                        .collect::<BooleanArray>(),
                )
            }
            JsonFn::String => Arc::new(StringArray::from(json_texts(&arrays[0])?)),
            JsonFn::Object | JsonFn::Array => {
                let keep_nulls = arrays[0].as_boolean();
                let values = (1..arrays.len())
                    .map(text)
                    .collect::<Result<Vec<StringArray>>>()?;
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    let keep = keep_nulls.is_valid(r) && keep_nulls.value(r);
                    out.push(Some(if self.kind == JsonFn::Object {
                        let mut pairs: Vec<(&str, Option<&str>)> = Vec::new();
                        for kv in values.chunks(2) {
                            let Some(k) = text_at(&kv[0], r) else {
                                return exec_err!("JSON_OBJECT: a key is NULL");
                            };
                            pairs.push((k, text_at(&kv[1], r)));
                        }
                        object_text(pairs, keep)?
                    } else {
                        array_text(values.iter().map(|c| text_at(c, r)), keep)
                    }));
                }
                Arc::new(StringArray::from(out))
            }
            JsonFn::ArrayAggResult => match arrays[0].data_type() {
                DataType::List(_) => list_results(arrays[0].as_list::<i32>(), array_result)?,
                DataType::LargeList(_) => list_results(arrays[0].as_list::<i64>(), array_result)?,
                DataType::Null => Arc::new(StringArray::from(vec![Some("[]"); n])),
                t => return exec_err!("internal: json_arrayagg_result of {t}"),
            },
            JsonFn::ObjectAggResult => {
                let keep = match arrays.get(1).map(|a| a.as_boolean()) {
                    Some(b) => b.is_valid(0) && b.value(0),
                    None => true,
                };
                let finish = |items: &ArrayRef| object_result(items, keep);
                match arrays[0].data_type() {
                    DataType::List(_) => list_results(arrays[0].as_list::<i32>(), finish)?,
                    DataType::LargeList(_) => list_results(arrays[0].as_list::<i64>(), finish)?,
                    DataType::Null => Arc::new(StringArray::from(vec![Some("{}"); n])),
                    t => return exec_err!("internal: json_objectagg_result of {t}"),
                }
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

impl JsonFunc {
    /// JSON_VALUE, JSON_QUERY or JSON_EXISTS of every row.
    fn query(&self, json: &StringArray, path: &StringArray) -> Result<ArrayRef> {
        let mut paths = Paths::default();
        let n = json.len();
        let mut texts: Vec<Option<String>> = Vec::new();
        let mut exists: Vec<Option<bool>> = Vec::new();
        for r in 0..n {
            if json.is_null(r) || path.is_null(r) {
                texts.push(None);
                exists.push(None);
                continue;
            }
            let p = match paths.get(path.value(r)) {
                Ok(p) => p,
                Err(e) => return exec_err!("{}: {e}", self.usage()),
            };
            let Ok(doc) = serde_json::from_str::<Value>(json.value(r)) else {
                // not JSON: NULL ON ERROR (FALSE ON ERROR for JSON_EXISTS)
                texts.push(None);
                exists.push(Some(false));
                continue;
            };
            if self.kind == JsonFn::Value {
                texts.push(match scalar_at(&doc, p) {
                    Found::Value(v) => v,
                    Found::Empty | Found::Error(_) => None,
                });
                continue;
            }
            let nodes = p.path.query(&doc);
            match self.kind {
                JsonFn::Exists => exists.push(Some(!nodes.is_empty())),
                _ if p.definite => texts.push(
                    nodes
                        .at_most_one()
                        .ok()
                        .flatten()
                        .filter(|v| v.is_object() || v.is_array())
                        .map(Value::to_string),
                ),
                _ => texts.push(Some(
                    Value::Array(nodes.all().into_iter().cloned().collect()).to_string(),
                )),
            }
        }
        Ok(if self.kind == JsonFn::Exists {
            Arc::new(BooleanArray::from(exists))
        } else {
            Arc::new(StringArray::from(texts))
        })
    }
}

/// What JSON_VALUE finds at a path.
enum Found {
    /// A scalar's text, or NULL (an SQL NULL argument, a JSON null).
    Value(Option<String>),
    /// The path selects nothing.
    Empty,
    /// Not JSON, or not a scalar.
    Error(&'static str),
}

/// What JSON_VALUE finds at `path` in `doc`.
fn scalar_at(doc: &Value, path: &Path) -> Found {
    let nodes = path.path.query(doc);
    match nodes.at_most_one() {
        Ok(None) => Found::Empty,
        Ok(Some(v)) if path.definite => match v {
            Value::Array(_) | Value::Object(_) => Found::Error("the value is not a scalar"),
            v => Found::Value(scalar_text(v)),
        },
        _ if nodes.is_empty() => Found::Empty,
        _ => Found::Error("the path selects a list, not a scalar"),
    }
}

/// JSON_VALUE with Flink's ON EMPTY and ON ERROR behaviours: `behaviors` are, per row, the
/// mode on empty (`NULL`, `ERROR`, `DEFAULT`), its default's text, the mode on error and its
/// default's text.
fn json_value_with(
    json: &StringArray,
    path: &StringArray,
    behaviors: &[StringArray; 4],
) -> Result<ArrayRef> {
    let out = per_row("JSON_VALUE", json, path, |r, j, p, compiled| {
        let found = match serde_json::from_str::<Value>(j) {
            Ok(doc) => scalar_at(&doc, compiled),
            Err(_) => Found::Error("the input is not JSON"),
        };
        let (mode, default, why) = match found {
            Found::Value(v) => return Ok(v),
            Found::Empty => (&behaviors[0], &behaviors[1], "no value at the path"),
            Found::Error(why) => (&behaviors[2], &behaviors[3], why),
        };
        match text_at(mode, r) {
            Some("ERROR") => exec_err!("JSON_VALUE: {why} (path '{p}', input '{j}')"),
            Some("DEFAULT") => Ok(text_at(default, r).map(str::to_string)),
            _ => Ok(None),
        }
    })?;
    Ok(Arc::new(StringArray::from(out)))
}

/// JSON_QUERY with Flink's wrapper and ON EMPTY / ON ERROR behaviours, as Calcite's
/// `jsonQuery`: `modes` are, per row, the wrapper (`WITHOUT`, `CONDITIONAL`: an array stays as
/// it is, anything else is wrapped; `UNCONDITIONAL`) and the behaviour on empty and on error
/// (`NULL`, `EMPTY ARRAY`, `EMPTY OBJECT`, `ERROR`). Nothing at the path (or a JSON null) is
/// empty, and so is a scalar that is not wrapped, but under a `strict` path where it is an
/// error as a missing value is; a text that is not JSON is an error.
fn json_query_with(
    json: &StringArray,
    path: &StringArray,
    modes: &[StringArray; 3],
) -> Result<ArrayRef> {
    let out = per_row("JSON_QUERY", json, path, |r, j, p, compiled| {
        let found: std::result::Result<Option<Value>, &str> = match serde_json::from_str(j) {
            Err(_) => Err("the input is not JSON"),
            Ok(doc) => {
                let nodes = compiled.path.query(&doc);
                match nodes.at_most_one() {
                    Ok(v) if compiled.definite => match v {
                        None if compiled.strict => Err("no value at the path"),
                        v => Ok(v.cloned()),
                    },
                    _ => Ok(Some(Value::Array(
                        nodes.all().into_iter().cloned().collect(),
                    ))),
                }
            }
        };
        let wrapped = found.map(|v| {
            v.filter(|v| !v.is_null())
                .map(|v| match text_at(&modes[0], r) {
                    Some("UNCONDITIONAL") => Value::Array(vec![v]),
                    Some("CONDITIONAL") if !v.is_array() => Value::Array(vec![v]),
                    _ => v,
                })
        });
        let (mode, why) = match wrapped {
            Ok(Some(v)) if v.is_array() || v.is_object() => return Ok(Some(v.to_string())),
            Ok(Some(_)) if compiled.strict => (&modes[2], "the value is not an array or object"),
            Ok(_) => (&modes[1], "no array or object at the path"),
            Err(why) => (&modes[2], why),
        };
        match text_at(mode, r) {
            Some("ERROR") => exec_err!("JSON_QUERY: {why} (path '{p}', input '{j}')"),
            Some("EMPTY ARRAY") => Ok(Some("[]".to_string())),
            Some("EMPTY OBJECT") => Ok(Some("{}".to_string())),
            _ => Ok(None),
        }
    })?;
    Ok(Arc::new(StringArray::from(out)))
}

/// JSON_EXISTS with Flink's ON ERROR behaviour (`on_error`, per row: `TRUE`, `FALSE`,
/// `UNKNOWN`, `ERROR`), as Calcite's `jsonExists`: a text that is not JSON, and a missing value
/// under a `strict` path, are errors; otherwise whether the path selects anything.
fn json_exists_with(
    json: &StringArray,
    path: &StringArray,
    on_error: &StringArray,
) -> Result<ArrayRef> {
    let out = per_row("JSON_EXISTS", json, path, |r, j, p, compiled| {
        let found = match serde_json::from_str::<Value>(j) {
            Err(_) => Err("the input is not JSON"),
            Ok(doc) => {
                let empty = compiled.path.query(&doc).is_empty();
                if empty && compiled.strict {
                    Err("no value at the path")
                } else {
                    Ok(!empty)
                }
            }
        };
        match found {
            Ok(b) => Ok(Some(b)),
            Err(why) => match text_at(on_error, r) {
                Some("ERROR") => exec_err!("JSON_EXISTS: {why} (path '{p}', input '{j}')"),
                Some("TRUE") => Ok(Some(true)),
                Some("UNKNOWN") => Ok(None),
                _ => Ok(Some(false)),
            },
        }
    })?;
    Ok(Arc::new(BooleanArray::from(out)))
}

/// `f(row, json, path text, compiled path)` for each row of `json` and `path` (NULL where
/// either is); a path that does not parse fails `name`.
fn per_row<T>(
    name: &str,
    json: &StringArray,
    path: &StringArray,
    mut f: impl FnMut(usize, &str, &str, &Path) -> Result<Option<T>>,
) -> Result<Vec<Option<T>>> {
    let mut paths = Paths::default();
    let mut out = Vec::with_capacity(json.len());
    for r in 0..json.len() {
        let (Some(j), Some(p)) = (text_at(json, r), text_at(path, r)) else {
            out.push(None);
            continue;
        };
        let compiled = match paths.get(p) {
            Ok(c) => c,
            Err(e) => return exec_err!("{name}: {e}"),
        };
        out.push(f(r, j, p, compiled)?);
    }
    Ok(out)
}

/// Row `r` of `c` (None for NULL).
fn text_at(c: &StringArray, r: usize) -> Option<&str> {
    c.is_valid(r).then(|| c.value(r))
}

/// `text IS JSON kind`.
fn is_json(text: &str, kind: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    match kind.to_ascii_uppercase().as_str() {
        "SCALAR" => !(v.is_object() || v.is_array()),
        "ARRAY" => v.is_array(),
        "OBJECT" => v.is_object(),
        _ => true,
    }
}

/// An object of JSON texts in the order given (a key given again takes the later value in the
/// earlier place); NULL values written as `null` when `keep_nulls`, else left out.
fn object_text(pairs: Vec<(&str, Option<&str>)>, keep_nulls: bool) -> Result<String> {
    let mut kept: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let v = match v {
            Some(v) => v,
            None if keep_nulls => "null",
            None => continue,
        };
        match kept.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => kept.push((k, v)),
        }
    }
    let mut out = String::from("{");
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String((*k).to_string()).to_string());
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    Ok(out)
}

/// An array of JSON texts; NULLs written as `null` when `keep_nulls`, else left out.
fn array_text<'a>(values: impl Iterator<Item = Option<&'a str>>, keep_nulls: bool) -> String {
    let items: Vec<&str> = values
        .filter_map(|v| match v {
            Some(v) => Some(v),
            None if keep_nulls => Some("null"),
            None => None,
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// Each row of a list column finished by `finish` (an empty list for a NULL row).
fn list_results<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    finish: impl Fn(&ArrayRef) -> Result<String>,
) -> Result<ArrayRef> {
    let mut out = Vec::with_capacity(lists.len());
    for r in 0..lists.len() {
        let items = if lists.is_null(r) {
            lists.values().slice(0, 0)
        } else {
            lists.value(r)
        };
        out.push(Some(finish(&items)?));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// JSON_ARRAYAGG's array of the values' JSON texts (`null` for a NULL kept by NULL ON NULL).
fn array_result(items: &ArrayRef) -> Result<String> {
    let texts = cast(items, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    Ok(array_text(texts.iter(), true))
}

/// JSON_OBJECTAGG's object of `{k, v}` rows, keys sorted.
fn object_result(items: &ArrayRef, keep_nulls: bool) -> Result<String> {
    let Some(rows) = items.as_any().downcast_ref::<StructArray>() else {
        return exec_err!("internal: json_objectagg_result of {}", items.data_type());
    };
    if rows.num_columns() != 2 {
        return exec_err!("internal: json_objectagg_result of {}", items.data_type());
    }
    let keys = cast(rows.column(0), &DataType::Utf8)?;
    let values = cast(rows.column(1), &DataType::Utf8)?;
    let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
    let mut pairs: Vec<(&str, Option<&str>)> = Vec::with_capacity(rows.len());
    for r in 0..rows.len() {
        if keys.is_null(r) {
            return exec_err!("JSON_OBJECTAGG: a key is NULL");
        }
        pairs.push((keys.value(r), values.is_valid(r).then(|| values.value(r))));
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return exec_err!(
            "JSON_OBJECTAGG: key '{}' is already present; duplicate keys are not allowed (as in Flink)",
            w[0].0
        );
    }
    object_text(pairs, keep_nulls)
}

/// Each row of `a` as JSON text (NULL for NULL): numbers and booleans as written, strings
/// quoted, lists as arrays, rows as objects, anything else as the quoted text of its CAST to
/// STRING.
pub fn json_texts(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    let n = a.len();
    let valid = |r: usize| a.is_valid(r);
    Ok(match a.data_type() {
        DataType::Null => vec![None; n],
        DataType::Boolean => {
            let b = a.as_boolean();
            (0..n)
                .map(|r| valid(r).then(|| b.value(r).to_string()))
                .collect()
        }
        t if t.is_integer() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            let s = cast(a, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        }
        t if t.is_floating() => {
            let f = cast(a, &DataType::Float64)?;
            let f = f.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            (0..n)
                .map(|r| {
                    valid(r).then(|| match serde_json::Number::from_f64(f.value(r)) {
                        Some(num) => num.to_string(),
                        None => Value::String(f.value(r).to_string()).to_string(),
                    })
                })
                .collect()
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let lists = cast(
                a,
                &DataType::List(Arc::new(Field::new_list_field(
                    list_item_type(a.data_type()),
                    true,
                ))),
            )?;
            let lists = lists.as_list::<i32>();
            (0..n)
                .map(|r| {
                    if !valid(r) {
                        return Ok(None);
                    }
                    let items = json_texts(&lists.value(r))?;
                    Ok(Some(array_text(items.iter().map(|v| v.as_deref()), true)))
                })
                .collect::<Result<_>>()?
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let columns = s
                .columns()
                .iter()
                .map(json_texts)
                .collect::<Result<Vec<_>>>()?;
            (0..n)
                .map(|r| {
                    if !valid(r) {
                        return Ok(None);
                    }
                    let pairs = fields
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| (f.name().as_str(), c[r].as_deref()))
                        .collect();
                    object_text(pairs, true).map(Some)
                })
                .collect::<Result<_>>()?
        }
        _ => {
            let s = cast(&super::cast_string::to_string(a)?, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(|v| Value::String(v.to_string()).to_string()))
                .collect()
        }
    })
}

fn list_item_type(t: &DataType) -> DataType {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kind` called on `args` (columns of equal length).
    fn try_run(kind: JsonFn, args: Vec<ArrayRef>) -> Result<ArrayRef> {
        let n = args[0].len();
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type().clone(), true)))
            .collect();
        JsonFunc::new(kind)
            .invoke_with_args(ScalarFunctionArgs {
                args: args.into_iter().map(ColumnarValue::Array).collect(),
                arg_fields,
                number_rows: n,
                return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(Default::default()),
            })?
            .to_array(n)
    }

    fn run(kind: JsonFn, args: Vec<ArrayRef>) -> ArrayRef {
        try_run(kind, args).unwrap()
    }

    fn strings(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn texts(a: &ArrayRef) -> Vec<Option<String>> {
        a.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    const DOC: &str = r#"{"a": {"b": [1, 2.5, "x", true, null, {"c": 3}]}, "s": "hi", "n": null}"#;

    #[test]
    fn json_value_takes_scalars_only() {
        let paths = [
            "$.s",
            "$.a.b[0]",
            "$.a.b[1]",
            "lax $.a.b[2]",
            "strict $.a.b[3]",
            "$.a.b[4]",
            "$.a",
            "$.a.b",
            "$.missing",
            "$.a.b[*]",
            "$['s']",
        ];
        let n = paths.len();
        let got = texts(&run(
            JsonFn::Value,
            vec![strings(&vec![Some(DOC); n]), strings(&paths.map(Some))],
        ));
        let want = [
            Some("hi"),
            Some("1"),
            Some("2.5"),
            Some("x"),
            Some("true"),
            None,
            None,
            None,
            None,
            None,
            Some("hi"),
        ];
        assert_eq!(got, want.map(|v| v.map(str::to_string)));
        // not JSON, or NULL: NULL
        let got = texts(&run(
            JsonFn::Value,
            vec![
                strings(&[Some("{oops"), None]),
                strings(&[Some("$.a"), Some("$.a")]),
            ],
        ));
        assert_eq!(got, vec![None, None]);
    }

    #[test]
    fn json_value_on_empty_and_on_error() {
        let docs = [Some(DOC), Some(DOC), Some("{oops"), Some(DOC)];
        let paths = [Some("$.s"), Some("$.nope"), Some("$.s"), Some("$.a")];
        let behave = |empty: &str, error: &str| {
            texts(&run(
                JsonFn::Value,
                vec![
                    strings(&docs),
                    strings(&paths),
                    strings(&[Some(empty); 4]),
                    strings(&[Some("e"); 4]),
                    strings(&[Some(error); 4]),
                    strings(&[Some("x"); 4]),
                ],
            ))
        };
        let t = |v: &str| Some(v.to_string());
        assert_eq!(behave("NULL", "NULL"), vec![t("hi"), None, None, None]);
        assert_eq!(
            behave("DEFAULT", "DEFAULT"),
            vec![t("hi"), t("e"), t("x"), t("x")]
        );
        assert_eq!(behave("DEFAULT", "NULL"), vec![t("hi"), t("e"), None, None]);
        // ERROR ON ERROR fails on the input that is not JSON
        let err = try_run(
            JsonFn::Value,
            vec![
                strings(&docs),
                strings(&paths),
                strings(&[Some("NULL"); 4]),
                strings(&[None; 4]),
                strings(&[Some("ERROR"); 4]),
                strings(&[None; 4]),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn json_query_takes_objects_and_arrays() {
        let paths = ["$.a", "$.a.b[5]", "$.s", "$.a.b[0,1]", "$..c", "$.zz"];
        let n = paths.len();
        let got = texts(&run(
            JsonFn::Query,
            vec![strings(&vec![Some(DOC); n]), strings(&paths.map(Some))],
        ));
        let want = [
            Some(r#"{"b":[1,2.5,"x",true,null,{"c":3}]}"#),
            Some(r#"{"c":3}"#),
            None,
            Some("[1,2.5]"),
            Some("[3]"),
            None,
        ];
        assert_eq!(got, want.map(|v| v.map(str::to_string)));
    }

    /// Flink's documented examples of JSON_QUERY's wrappers and behaviours.
    #[test]
    fn json_query_wrappers_and_behaviours() {
        let cases: [(&str, &str, [&str; 3], Option<&str>); 10] = [
            ("{}", "$", ["CONDITIONAL", "NULL", "NULL"], Some("[{}]")),
            (
                "[1, 2]",
                "$",
                ["CONDITIONAL", "NULL", "NULL"],
                Some("[1,2]"),
            ),
            (
                "[1, 2]",
                "$",
                ["UNCONDITIONAL", "NULL", "NULL"],
                Some("[[1,2]]"),
            ),
            ("1", "$", ["WITHOUT", "NULL", "NULL"], None),
            ("1", "$", ["CONDITIONAL", "NULL", "NULL"], Some("[1]")),
            (
                "{}",
                "lax $.invalid",
                ["WITHOUT", "EMPTY OBJECT", "NULL"],
                Some("{}"),
            ),
            (
                "{}",
                "strict $.invalid",
                ["WITHOUT", "NULL", "EMPTY ARRAY"],
                Some("[]"),
            ),
            (
                r#"{"a":[{"c":"c1"},{"c":"c2"}]}"#,
                "lax $.a[*].c",
                ["CONDITIONAL", "NULL", "NULL"],
                Some(r#"["c1","c2"]"#),
            ),
            (
                "{",
                "$",
                ["WITHOUT", "EMPTY ARRAY", "EMPTY OBJECT"],
                Some("{}"),
            ),
            (
                r#"{"s":"x"}"#,
                "strict $.s",
                ["WITHOUT", "EMPTY ARRAY", "EMPTY OBJECT"],
                Some("{}"),
            ),
        ];
        for (doc, path, modes, want) in cases {
            let got = texts(&run(
                JsonFn::Query,
                vec![
                    strings(&[Some(doc)]),
                    strings(&[Some(path)]),
                    strings(&[Some(modes[0])]),
                    strings(&[Some(modes[1])]),
                    strings(&[Some(modes[2])]),
                ],
            ));
            assert_eq!(
                got,
                vec![want.map(str::to_string)],
                "{doc} {path} {modes:?}"
            );
        }
        let err = try_run(
            JsonFn::Query,
            vec![
                strings(&[Some("{}")]),
                strings(&[Some("$.a")]),
                strings(&[Some("WITHOUT")]),
                strings(&[Some("ERROR")]),
                strings(&[Some("NULL")]),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("no array or object"), "{err}");
    }

    #[test]
    fn json_exists_on_error() {
        let exists = |doc: &str, path: &str, mode: &str| {
            try_run(
                JsonFn::Exists,
                vec![
                    strings(&[Some(doc)]),
                    strings(&[Some(path)]),
                    strings(&[Some(mode)]),
                ],
            )
            .map(|a| a.as_boolean().iter().next().flatten())
        };
        assert_eq!(exists(DOC, "$.n", "ERROR").unwrap(), Some(true));
        assert_eq!(exists(DOC, "lax $.zz", "ERROR").unwrap(), Some(false));
        assert_eq!(exists(DOC, "strict $.zz", "FALSE").unwrap(), Some(false));
        assert_eq!(exists(DOC, "strict $.zz", "TRUE").unwrap(), Some(true));
        assert_eq!(exists("[", "$", "UNKNOWN").unwrap(), None);
        let err = exists("[", "$", "ERROR").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn json_exists_and_is_json() {
        let got = run(
            JsonFn::Exists,
            vec![
                strings(&[Some(DOC), Some(DOC), Some(DOC), Some("[")]),
                strings(&[Some("$.n"), Some("$.a.b[9]"), Some("$.a.b[*]"), Some("$")]),
            ],
        );
        let got: Vec<Option<bool>> = got.as_boolean().iter().collect();
        assert_eq!(got, vec![Some(true), Some(false), Some(true), Some(false)]);
        let docs = [Some("1"), Some("[1]"), Some("{}"), Some("{"), None];
        for (kind, want) in [
            ("VALUE", [true, true, true, false]),
            ("SCALAR", [true, false, false, false]),
            ("ARRAY", [false, true, false, false]),
            ("OBJECT", [false, false, true, false]),
        ] {
            let got = run(
                JsonFn::IsJson,
                vec![strings(&docs), strings(&[Some(kind); 5])],
            );
            let got: Vec<Option<bool>> = got.as_boolean().iter().collect();
            let mut want: Vec<Option<bool>> = want.iter().map(|b| Some(*b)).collect();
            want.push(None);
            assert_eq!(got, want, "{kind}");
        }
    }

    #[test]
    fn values_as_json_text() {
        use datafusion::arrow::array::{Float64Array, Int64Array};
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert_eq!(
            json_texts(&ints).unwrap(),
            vec![Some("1".to_string()), None]
        );
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 0.5]));
        assert_eq!(
            json_texts(&floats).unwrap(),
            vec![Some("1.0".to_string()), Some("0.5".to_string())]
        );
        let s = strings(&[Some("a\"b")]);
        assert_eq!(json_texts(&s).unwrap(), vec![Some(r#""a\"b""#.to_string())]);
    }

    #[test]
    fn objects_and_arrays_from_json_texts() {
        let keep = |b: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![b])) };
        let obj = |b: bool| {
            texts(&run(
                JsonFn::Object,
                vec![
                    keep(b),
                    strings(&[Some("k")]),
                    strings(&[Some("1")]),
                    strings(&[Some("z")]),
                    strings(&[None]),
                ],
            ))
        };
        assert_eq!(obj(true), vec![Some(r#"{"k":1,"z":null}"#.to_string())]);
        assert_eq!(obj(false), vec![Some(r#"{"k":1}"#.to_string())]);
        let arr = texts(&run(
            JsonFn::Array,
            vec![keep(false), strings(&[Some("\"a\"")]), strings(&[None])],
        ));
        assert_eq!(arr, vec![Some(r#"["a"]"#.to_string())]);
    }

    #[test]
    fn a_constant_path_that_does_not_parse_fails_at_planning() {
        assert!(Path::parse("$.a[").is_err());
        assert!(Path::parse("lax $.a").is_ok());
        assert!(is_definite("$['a*b'].c[0]"));
        assert!(!is_definite("$..c"));
        assert!(!is_definite("$.a[?@.b > 1]"));
    }
}
