//! SQL column types in Flink's spelling, and their Arrow representation.

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A Flink SQL type. Timestamps are `TIMESTAMP(p)` without time zone, kept in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SqlType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal(u8, i8),
    String,
    Date,
    Timestamp(u8),
    /// `ROW<name type, ...>`: a struct of named fields (Arrow `Struct`), read with `col.field`.
    Row(Vec<Column>),
    /// `ARRAY<type>` (Arrow `List`); elements may be NULL.
    Array(Box<SqlType>),
    /// `MAP<key type, value type>` (Arrow `Map`); keys are never NULL.
    Map(Box<SqlType>, Box<SqlType>),
}

impl SqlType {
    /// The Arrow type of this SQL type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Int => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Float => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal(p, s) => DataType::Decimal128(*p, *s),
            SqlType::String => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp(p) => DataType::Timestamp(
                match p {
                    0 => TimeUnit::Second,
                    1..=3 => TimeUnit::Millisecond,
                    4..=6 => TimeUnit::Microsecond,
                    _ => TimeUnit::Nanosecond,
                },
                None,
            ),
            SqlType::Row(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|c| Field::new(&c.name, c.ty.to_arrow(), c.nullable))
                    .collect(),
            ),
            SqlType::Array(e) => {
                DataType::List(Arc::new(Field::new_list_field(e.to_arrow(), true)))
            }
            SqlType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(
                        vec![
                            Field::new("key", k.to_arrow(), false),
                            Field::new("value", v.to_arrow(), true),
                        ]
                        .into(),
                    ),
                    false,
                )),
                false,
            ),
        }
    }

    /// The SQL type of an Arrow type, where there is one.
    pub fn from_arrow(dt: &DataType) -> Option<SqlType> {
        Some(match dt {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8 => SqlType::TinyInt,
            DataType::Int16 => SqlType::SmallInt,
            DataType::Int32 => SqlType::Int,
            DataType::Int64 => SqlType::BigInt,
            DataType::Float32 => SqlType::Float,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal128(p, s) => SqlType::Decimal(*p, *s),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::String,
            DataType::Date32 => SqlType::Date,
            DataType::Timestamp(u, _) => SqlType::Timestamp(match u {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            }),
            DataType::Struct(fields) => SqlType::Row(
                fields
                    .iter()
                    .map(|f| {
                        Some(Column {
                            name: f.name().clone(),
                            ty: SqlType::from_arrow(f.data_type())?,
                            nullable: f.is_nullable(),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            DataType::List(e) | DataType::LargeList(e) | DataType::FixedSizeList(e, _) => {
                SqlType::Array(Box::new(SqlType::from_arrow(e.data_type())?))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => SqlType::Map(
                    Box::new(SqlType::from_arrow(kv[0].data_type())?),
                    Box::new(SqlType::from_arrow(kv[1].data_type())?),
                ),
                _ => return None,
            },
            _ => return None,
        })
    }
}

impl SqlType {
    /// ROW, ARRAY or MAP.
    pub fn is_nested(&self) -> bool {
        matches!(self, SqlType::Row(_) | SqlType::Array(_) | SqlType::Map(..))
    }

    /// TINYINT to DOUBLE and DECIMAL.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::TinyInt
                | SqlType::SmallInt
                | SqlType::Int
                | SqlType::BigInt
                | SqlType::Float
                | SqlType::Double
                | SqlType::Decimal(..)
        )
    }

    /// Whether a query column of this type may be written into a sink column of type `sink`
    /// (cast on the way): the same family, as Flink's implicit casts allow (numbers into
    /// numbers, a DATE or TIMESTAMP into a TIMESTAMP of any precision); never across families
    /// such as STRING into BIGINT. A ROW goes into a ROW field by field, by position whatever
    /// the names (as Flink's `ROW(a, b)` into `ROW<x, y>`); an ARRAY or MAP by its elements.
    pub fn insertable_into(&self, sink: &SqlType) -> bool {
        match (self, sink) {
            (SqlType::Row(a), SqlType::Row(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.ty.insertable_into(&y.ty))
            }
            (SqlType::Array(a), SqlType::Array(b)) => a.insertable_into(b),
            (SqlType::Map(ka, va), SqlType::Map(kb, vb)) => {
                ka.insertable_into(kb) && va.insertable_into(vb)
            }
            _ => {
                self == sink
                    || self.is_numeric() && sink.is_numeric()
                    || matches!(
                        (self, sink),
                        (SqlType::Timestamp(_) | SqlType::Date, SqlType::Timestamp(_))
                    )
            }
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::TinyInt => write!(f, "TINYINT"),
            SqlType::SmallInt => write!(f, "SMALLINT"),
            SqlType::Int => write!(f, "INT"),
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Float => write!(f, "FLOAT"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            SqlType::String => write!(f, "STRING"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            SqlType::Row(fields) => {
                write!(f, "ROW<")?;
                for (i, c) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "`{}` {}", c.name, c.ty)?;
                    if !c.nullable {
                        write!(f, " NOT NULL")?;
                    }
                }
                write!(f, ">")
            }
            SqlType::Array(e) => write!(f, "ARRAY<{e}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
        }
    }
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: SqlType,
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

/// An ordered list of columns: the schema of a table or of an operator's output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct RowSchema {
    pub columns: Vec<Column>,
}

impl RowSchema {
    pub fn new(columns: Vec<Column>) -> Self {
        Self { columns }
    }

    /// A schema of nullable columns from (name, type) pairs.
    pub fn nullable(columns: &[(&str, SqlType)]) -> Self {
        Self::new(
            columns
                .iter()
                .map(|(name, ty)| Column {
                    name: name.to_string(),
                    ty: ty.clone(),
                    nullable: true,
                })
                .collect(),
        )
    }

    pub fn to_arrow(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.to_arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn project(&self, indices: &[usize]) -> RowSchema {
        RowSchema::new(indices.iter().map(|i| self.columns[*i].clone()).collect())
    }

    /// The column names, in order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// The schema with a changelog's trailing row-kind column (`$op`, TINYINT NOT NULL).
    pub fn with_op(&self) -> RowSchema {
        let mut s = self.without_op();
        s.columns.push(Column {
            name: crate::changelog::OP_COLUMN.into(),
            ty: SqlType::TinyInt,
            nullable: false,
        });
        s
    }

    /// The schema without a changelog's trailing row-kind column (`$op`), if it has one.
    pub fn without_op(&self) -> RowSchema {
        let mut s = self.clone();
        if s.columns
            .last()
            .is_some_and(|c| c.name == crate::changelog::OP_COLUMN)
        {
            s.columns.pop();
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl fmt::Display for RowSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{} {}", c.name, c.ty)?;
        }
        Ok(())
    }
}
