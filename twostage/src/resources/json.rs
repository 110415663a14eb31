//! JSON answers from outside (PEP 691 pages, GitHub's REST API, PyPI's trusted-publishing
//! endpoints, PEP 740 provenance), read into serde types: a bounded body, and the two
//! leniencies those specifications allow a reader — an optional field of another type is left
//! out, and an entry of a list that cannot be read is skipped, rather than refusing the whole
//! answer. Unknown fields are ignored (serde's default).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The most read of an answer's body: a token exchange's answers are a few hundred bytes,
/// GitHub's errors and provenance documents small too.
const BODY_LIMIT: u64 = 1024 * 1024;

/// A response's body as text, empty when it cannot be read or is over 1 MB.
pub fn body_text(response: &mut ureq::http::Response<ureq::Body>) -> String {
    response
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
        .unwrap_or_default()
}

/// A response's body read as `T`, `None` when it is not JSON of that shape or over 1 MB.
pub fn read<T: DeserializeOwned>(response: &mut ureq::http::Response<ureq::Body>) -> Option<T> {
    serde_json::from_str(&body_text(response)).ok()
}

/// For `#[serde(default, deserialize_with = "lenient")]` on an `Option<T>` field: the field
/// read as `T`, or `None` when it has another type.
pub fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// For `#[serde(default, deserialize_with = "readable")]` on a `Vec<T>` field: the entries
/// that read as `T`; a list of another type (or `null`) is empty.
pub fn readable<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let entries: Option<Vec<serde_json::Value>> = lenient(deserializer)?;
    Ok(entries
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Answer {
        #[serde(default, deserialize_with = "lenient")]
        note: Option<String>,
        #[serde(default, deserialize_with = "readable")]
        items: Vec<Item>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        id: u64,
    }

    #[test]
    fn wrong_types_are_left_out_and_unreadable_entries_skipped() {
        let answer: Answer = serde_json::from_str(
            r#"{"note": 3, "items": [{"id": 1}, {"id": "x"}, 7, {"id": 2}], "more": true}"#,
        )
        .unwrap();
        assert_eq!(answer.note, None);
        assert_eq!(answer.items, [Item { id: 1 }, Item { id: 2 }]);
        let answer: Answer = serde_json::from_str(r#"{"note": "n", "items": {"id": 1}}"#).unwrap();
        assert_eq!(answer.note.as_deref(), Some("n"));
        assert!(answer.items.is_empty());
        let answer: Answer = serde_json::from_str("{}").unwrap();
        assert!(answer.note.is_none() && answer.items.is_empty());
    }
}
