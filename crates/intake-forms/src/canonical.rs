//! [`canonical_json`] and [`sha256_hex`]: the fingerprint of a response that
//! the PDF footer shows, so a printed response can be matched to the stored
//! one.
//!
//! The canonical form is the response's JSON (as [`ResponseContent`]
//! serializes it: `status` and `item`, FHIR names, empty lists left out) with
//! object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as
//! serde_json escapes them and numbers as serde_json prints them. Keys are
//! sorted here rather than left to `serde_json::Map`, whose order becomes
//! insertion order as soon as any crate in the build enables serde_json's
//! `preserve_order` feature.
//!
//! It is deterministic for intake, which is what the footer needs; it is not
//! RFC 8785 (JCS), whose number format follows JavaScript (`1` where serde_json
//! writes `1.0`). Changing the format would change the fingerprint of every
//! response already printed, so it must stay as it is.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::response::ResponseContent;

/// The canonical serialization of `response`: sorted keys, no whitespace.
pub fn canonical_json(response: &ResponseContent) -> Vec<u8> {
    // A response holds only strings, booleans, finite numbers, lists and
    // objects with string keys, all of which serialize.
    let value = serde_json::to_value(response).unwrap_or(Value::Null);
    let mut out = String::new();
    write_canonical(&value, &mut out);
    out.into_bytes()
}

/// The SHA-256 of `bytes` as 64 lowercase hexadecimal digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(values) => {
            out.push('[');
            for (at, element) in values.iter().enumerate() {
                if at > 0 {
                    out.push(',');
                }
                write_canonical(element, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
            out.push('{');
            for (at, (key, element)) in entries.into_iter().enumerate() {
                if at > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(element, out);
            }
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    // Serializing a str cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use proptest::prelude::*;
    use serde_json::json;

    fn response(json: Value) -> ResponseContent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let response = response(json!({"status": "completed", "item": [
            {"text": "Weight", "linkId": "w", "answer": [{"valueQuantity": {"unit": "kg", "value": 61.5}}]}
        ]}));

        let canonical = String::from_utf8(canonical_json(&response)).unwrap();

        assert_eq!(
            canonical,
            r#"{"item":[{"answer":[{"valueQuantity":{"unit":"kg","value":61.5}}],"linkId":"w","text":"Weight"}],"status":"completed"}"#
        );
    }

    #[test]
    fn canonical_json_does_not_depend_on_the_order_of_the_input() {
        let one = response(json!({"status": "completed", "item": [
            {"linkId": "a", "text": "A", "answer": [{"valueCoding": {"system": "s", "code": "c"}}]}
        ]}));
        let other: ResponseContent = ResponseContent::from_json(
            br#"{"item":[{"answer":[{"valueCoding":{"code":"c","system":"s"}}],"text":"A","linkId":"a"}],"status":"completed"}"#,
        )
        .unwrap();

        assert_eq!(canonical_json(&one), canonical_json(&other));
    }

    #[test]
    fn sha256_hex_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_fingerprint_changes_when_an_answer_changes() {
        let original = response(sample::completed_response());
        let mut edited_json = sample::completed_response();
        edited_json["item"][1]["answer"][0]["valueBoolean"] = json!(false);
        let edited = response(edited_json);

        assert_ne!(
            sha256_hex(&canonical_json(&original)),
            sha256_hex(&canonical_json(&edited))
        );
    }

    #[test]
    fn a_decimal_prints_and_parses_back_to_the_same_canonical_bytes() {
        // Without serde_json's float_roundtrip this value came back one unit
        // in the last place off, and with it the fingerprint.
        let first = response(json!({"status": "completed", "item": [
            {"linkId": "q", "answer": [{"valueDecimal": -90490662.01627271}]}
        ]}));

        let canonical = canonical_json(&first);
        let reparsed = ResponseContent::from_json(&canonical).unwrap();

        assert_eq!(canonical_json(&reparsed), canonical);
    }

    proptest! {
        #[test]
        fn canonical_json_is_a_fixed_point_of_parsing(
            texts in proptest::collection::vec("\\PC{0,12}", 0..5),
            number in -1.0e9f64..1.0e9,
        ) {
            let answers: Vec<Value> = texts
                .iter()
                .map(|text| json!({"valueString": format!("x{text}")}))
                .chain([json!({"valueDecimal": number})])
                .collect();
            let first = response(json!({"status": "in-progress", "item": [
                {"linkId": "q", "answer": answers}
            ]}));

            let canonical = canonical_json(&first);
            let reparsed = ResponseContent::from_json(&canonical).unwrap();

            prop_assert_eq!(canonical_json(&reparsed), canonical);
        }
    }
}
