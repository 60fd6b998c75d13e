//! JSON with TF Serving's extensions: the bare tokens `NaN`, `Infinity` and `-Infinity` (also the
//! short forms `Inf` and `-Inf`) are numbers in request bodies, as rapidjson parses them for TF
//! Serving.
//!
//! serde_json rejects those tokens, so [`parse_lenient`] first rewrites each one that stands in a
//! *value* position outside string literals into a marker string (`"\u0000NaN"`, …) and parses the
//! result; [`as_number`] turns a marker back into the `f64` it stands for. Tokens in key position,
//! inside strings, or glued to other characters are left alone, so invalid JSON stays invalid.
//! A request string that literally equals a marker (it starts with a NUL character) would be read
//! as that number: documented, and harmless for a simulator.
//!
//! [`write_number`] writes numbers back the TF Serving way: non-finite values as bare tokens.

use serde_json::Value;

/// Marker strings standing for the non-finite numbers after [`parse_lenient`].
const NAN_MARKER: &str = "\u{0}NaN";
const POS_INF_MARKER: &str = "\u{0}Infinity";
const NEG_INF_MARKER: &str = "\u{0}-Infinity";

/// Tokens accepted as non-finite numbers, longest first so `Infinity` wins over `Inf`.
const TOKENS: [(&str, &str); 5] = [
    ("-Infinity", "\"\\u0000-Infinity\""),
    ("Infinity", "\"\\u0000Infinity\""),
    ("-Inf", "\"\\u0000-Infinity\""),
    ("Inf", "\"\\u0000Infinity\""),
    ("NaN", "\"\\u0000NaN\""),
];

/// Parses a request body as JSON, accepting TF Serving's non-finite number tokens. Like TF
/// Serving (rapidjson with `kParseStopWhenDoneFlag`), parsing stops after the first complete
/// value: whatever follows it is ignored.
///
/// # Errors
/// `None` for an empty (or all-whitespace) body — TF's "The document is empty" —, otherwise the
/// serde_json error (offsets may shift by a few bytes when non-finite tokens precede it).
pub fn parse_lenient(body: &[u8]) -> Result<Value, Option<serde_json::Error>> {
    let first = |bytes: &[u8]| {
        serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .next()
    };
    let parsed = match rewrite_non_finite(body) {
        Some(rewritten) => first(&rewritten),
        None => first(body),
    };
    match parsed {
        None => Err(None),
        Some(result) => result.map_err(Some),
    }
}

/// The number a JSON value stands for: a JSON number, or a non-finite marker from
/// [`parse_lenient`]. `None` for anything else.
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            NAN_MARKER => Some(f64::NAN),
            POS_INF_MARKER => Some(f64::INFINITY),
            NEG_INF_MARKER => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Appends `x` to `out` as TF Serving writes it: shortest round-trip decimal, `NaN`,
/// `Infinity` or `-Infinity`.
pub fn write_number(out: &mut String, x: f64) {
    use std::fmt::Write as _;
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Debug formatting is the shortest round-trip form, keeps a decimal point for whole
        // numbers (`3.0`: floats stay floats) and uses exponents for extreme magnitudes.
        let _ = write!(out, "{x:?}");
    }
}

/// Appends a DT_FLOAT value: the shortest decimal that reads back as the same `f32` (so
/// `2.55f32` is `2.55`, not its `f64` expansion), non-finite values as bare tokens.
pub fn write_f32(out: &mut String, x: f32) {
    use std::fmt::Write as _;
    if x.is_finite() {
        let _ = write!(out, "{x:?}");
    } else {
        write_number(out, f64::from(x));
    }
}

/// Appends `s` to `out` as a JSON string literal.
pub fn write_string(out: &mut String, s: &str) {
    // serde_json's string escaping cannot fail for a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// What the scanner expects next inside a container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An object key (after `{` or `,` in an object).
    Key,
    /// A value (document start, after `[`, `:` or `,` in an array).
    Value,
    /// Anything else (after a value, before `,`/`:`/closers).
    Other,
}

/// Rewrites non-finite tokens in value position; `None` when there is nothing to rewrite.
fn rewrite_non_finite(body: &[u8]) -> Option<Vec<u8>> {
    // Fast path: most bodies contain none of the tokens' first letters outside strings.
    if !body.iter().any(|b| matches!(b, b'N' | b'I')) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 32);
    let mut stack: Vec<u8> = Vec::new(); // b'{' or b'['
    let mut expect = Expect::Value;
    let mut changed = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        match b {
            b'"' => {
                // Copy the whole string literal, honouring escapes.
                let start = i;
                i += 1;
                while i < body.len() {
                    match body[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                let end = i.min(body.len());
                out.extend_from_slice(&body[start..end]);
                expect = Expect::Other;
                continue;
            }
            b'{' | b'[' => {
                stack.push(b);
                expect = if b == b'{' {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            b'}' | b']' => {
                stack.pop();
                expect = Expect::Other;
            }
            b':' => expect = Expect::Value,
            b',' => {
                expect = match stack.last() {
                    Some(b'{') => Expect::Key,
                    _ => Expect::Value,
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ if expect == Expect::Value => {
                if let Some((token, marker)) =
                    TOKENS.iter().find(|(token, _)| token_at(body, i, token))
                {
                    out.extend_from_slice(marker.as_bytes());
                    i += token.len();
                    changed = true;
                    expect = Expect::Other;
                    continue;
                }
                expect = Expect::Other;
            }
            _ => expect = Expect::Other,
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Whether `token` starts at `body[i]` and ends at a delimiter (or the end of the body).
fn token_at(body: &[u8], i: usize, token: &str) -> bool {
    let end = i + token.len();
    body.get(i..end) == Some(token.as_bytes())
        && body
            .get(end)
            .is_none_or(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_parses_unchanged() {
        let v = parse_lenient(br#"{"instances": [1.0, 2, "NaN"]}"#).unwrap();
        assert_eq!(v["instances"][2], Value::String("NaN".into()));
        assert!(rewrite_non_finite(br#"{"a": [1, 2]}"#).is_none());
    }

    #[test]
    fn non_finite_tokens_become_numbers() {
        let v = parse_lenient(b"[NaN, Infinity, -Infinity, Inf, -Inf, 1]").unwrap();
        let xs: Vec<f64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|v| as_number(v).unwrap())
            .collect();
        assert!(xs[0].is_nan());
        assert_eq!(
            xs[1..],
            [
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1.0
            ]
        );
    }

    #[test]
    fn tokens_inside_strings_and_keys_are_left_alone() {
        let v = parse_lenient(br#"{"x": "NaN, Infinity", "y": NaN}"#).unwrap();
        assert_eq!(v["x"], Value::String("NaN, Infinity".into()));
        assert!(as_number(&v["y"]).unwrap().is_nan());
        // A bare token in key position stays invalid JSON.
        assert!(parse_lenient(b"{NaN: 1}").is_err());
        // Glued tokens stay invalid.
        assert!(parse_lenient(b"[NaNx]").is_err());
        // Escaped quotes do not end strings early.
        let v = parse_lenient(br#"["a\"NaN", NaN]"#).unwrap();
        assert_eq!(v[0], Value::String("a\"NaN".into()));
        assert!(as_number(&v[1]).unwrap().is_nan());
    }

    #[test]
    fn numbers_are_written_like_tf_serving() {
        let mut s = String::new();
        for x in [
            2.5,
            3.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -0.125,
        ] {
            write_number(&mut s, x);
            s.push(' ');
        }
        assert_eq!(s, "2.5 3.0 NaN Infinity -Infinity 1e300 -0.125 ");
    }

    #[test]
    fn trailing_bytes_are_ignored_and_empty_is_its_own_error() {
        assert_eq!(parse_lenient(br#"{"a": 1}X garbage"#).unwrap()["a"], 1);
        assert_eq!(
            parse_lenient(b"[NaN] ]").unwrap().as_array().unwrap().len(),
            1
        );
        assert!(parse_lenient(b"  \n").unwrap_err().is_none());
        assert!(parse_lenient(b"{x").unwrap_err().is_some());
    }

    #[test]
    fn truncated_string_does_not_panic() {
        assert!(parse_lenient(b"[NaN, \"abc").is_err());
        assert!(parse_lenient(b"[NaN, \"abc\\").is_err());
    }
}
