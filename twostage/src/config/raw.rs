//! The configuration's values as serde reads them: a TOML value of the file, or the text of a
//! `TWOSTAGE_<SECTION>_<KEY>` variable read as the type asks (a list as a TOML array when it
//! starts with `[`, else as one entry; a boolean as `true`, `false`, `1` or `0`). It knows no key:
//! the keys are the fields of `config`'s types. Its errors say what was expected and never the
//! value, which may hold a token (serde's own `invalid type: string "…"` quotes it,
//! https://docs.rs/serde/latest/serde/de/trait.Error.html#method.invalid_type), which is why the
//! file is not read through `toml_edit::de` (docs/formats.md).

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};

/// Why a value was not read: one problem a line, each to follow the key's name.
#[derive(Debug)]
pub enum Problem {
    Said(String),
    /// The key is none of its table's (serde's `unknown_field`): the keys it has.
    Unknown(&'static [&'static str]),
    /// A key the table needs is absent: a setting read alone has no other keys beside it.
    Missing,
}

impl de::Error for Problem {
    fn custom<T: fmt::Display>(message: T) -> Problem {
        Problem::Said(message.to_string())
    }

    fn invalid_type(_: de::Unexpected, expected: &dyn de::Expected) -> Problem {
        Problem::Said(format!("must be {expected}"))
    }

    fn invalid_value(_: de::Unexpected, expected: &dyn de::Expected) -> Problem {
        Problem::Said(format!("must be {expected}"))
    }

    fn unknown_field(_: &str, expected: &'static [&'static str]) -> Problem {
        Problem::Unknown(expected)
    }

    fn missing_field(_: &'static str) -> Problem {
        Problem::Missing
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Said(message) => f.write_str(message),
            Problem::Unknown(keys) => write!(f, "is not a setting (its keys: {})", list(keys)),
            Problem::Missing => f.write_str("is missing"),
        }
    }
}

impl std::error::Error for Problem {}

/// "`a`, `b`, `c`", for messages.
pub fn list(words: &[&str]) -> String {
    let words: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    words.join(", ")
}

/// The newtype name a URL setting is read through (as `serde_spanned` marks its spans): a
/// variable that holds a URL is then known by its name, and kept from children when the URL
/// carries credentials (`resources::secrets`).
pub const URL: &str = "$twostage::config::Url";

/// One value, from the file or from the environment.
#[derive(Debug, Clone)]
pub enum Raw {
    Toml(toml_edit::Value),
    Env { name: String, value: String },
}

/// A table: its keys and their values, read as a struct.
pub struct Table(pub Vec<(String, Raw)>);

/// The whole configuration: its tables by name.
pub struct Tables(pub Vec<(&'static str, Table)>);

impl<'de> IntoDeserializer<'de, Problem> for Raw {
    type Deserializer = Raw;
    fn into_deserializer(self) -> Raw {
        self
    }
}

impl<'de> IntoDeserializer<'de, Problem> for Table {
    type Deserializer = MapDeserializer<'de, std::vec::IntoIter<(String, Raw)>, Problem>;
    fn into_deserializer(self) -> Self::Deserializer {
        MapDeserializer::new(self.0.into_iter())
    }
}

impl<'de> IntoDeserializer<'de, Problem> for Tables {
    type Deserializer = MapDeserializer<'de, std::vec::IntoIter<(&'static str, Table)>, Problem>;
    fn into_deserializer(self) -> Self::Deserializer {
        MapDeserializer::new(self.0.into_iter())
    }
}

fn strings(values: impl IntoIterator<Item = toml_edit::Value>) -> Option<Vec<String>> {
    values
        .into_iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl Raw {
    fn list(self) -> Option<Vec<String>> {
        match self {
            Raw::Toml(toml_edit::Value::Array(a)) => strings(a),
            Raw::Toml(_) => None,
            Raw::Env { value, .. } if value.trim_start().starts_with('[') => {
                match value.parse::<toml_edit::Value>().ok()? {
                    toml_edit::Value::Array(a) => strings(a),
                    _ => None,
                }
            }
            Raw::Env { value, .. } => Some(vec![value]),
        }
    }
}

impl<'de> de::Deserializer<'de> for Raw {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        use toml_edit::Value;
        match self {
            Raw::Env { value, .. } => visitor.visit_string(value),
            Raw::Toml(Value::String(s)) => visitor.visit_string(s.into_value()),
            Raw::Toml(Value::Integer(i)) => visitor.visit_i64(i.into_value()),
            Raw::Toml(Value::Float(f)) => visitor.visit_f64(f.into_value()),
            Raw::Toml(Value::Boolean(b)) => visitor.visit_bool(b.into_value()),
            Raw::Toml(Value::Datetime(_)) => Err(de::Error::invalid_type(
                de::Unexpected::Other("a date"),
                &visitor,
            )),
            Raw::Toml(Value::Array(_)) => self.deserialize_seq(visitor),
            Raw::Toml(Value::InlineTable(_)) => {
                Err(de::Error::invalid_type(de::Unexpected::Map, &visitor))
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let value = match &self {
            Raw::Toml(v) => v.as_bool(),
            Raw::Env { value, .. } => match value.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
        };
        match value {
            Some(b) => visitor.visit_bool(b),
            None => Err(Problem::Said("must be `true` or `false`".into())),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self {
            Raw::Toml(toml_edit::Value::String(s)) => visitor.visit_string(s.into_value()),
            Raw::Env { value, .. } => visitor.visit_string(value),
            Raw::Toml(_) => Err(Problem::Said("must be a string".into())),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_string(visitor)
    }

    /// Every list of the configuration is a list of strings.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.list() {
            Some(entries) => visitor.visit_seq(SeqDeserializer::new(entries.into_iter())),
            None => Err(Problem::Said("must be an array of strings".into())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        if let (URL, Raw::Env { name, value }) = (name, &self) {
            if crate::resources::secrets::remember_url(value) || !value.contains("://") {
                crate::resources::secrets::protect_names([name]);
            }
        }
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The names of a struct's fields, as serde reads them (`rename_all` applied): asked of the
/// derived code itself, so that a key is spelled only as its field.
pub fn fields<'de, T: de::Deserialize<'de>>() -> &'static [&'static str] {
    struct Ask;
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fields")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<T: fmt::Display>(_: T) -> Fields {
            Fields(&[])
        }
    }
    impl<'de> de::Deserializer<'de> for Ask {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    match T::deserialize(Ask) {
        Err(Fields(fields)) => fields,
        Ok(_) => &[],
    }
}
