//! The binary-tensor extension of V2 REST (Triton's `binary_tensor_data`, also served by
//! KServe's model server): the body is a JSON inference header followed by raw tensor bytes,
//! and the `Inference-Header-Content-Length` header gives the JSON part's length. Requests and
//! responses may both use it.
//!
//! A proxy must pass such a body and the header through untouched (the model name is in the
//! path, never in the body): no JSON parsing, no re-encoding, and the header is an end-to-end
//! header, not a hop-by-hop one. [`split_body`] exists for tests and diagnostics that want to
//! look at the JSON part.

/// The header naming the length of the JSON part (lower case, as HTTP/2 sends it).
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// A binary-extension body whose header value does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryBodyError {
    /// The header is not a decimal length.
    #[error("Inference-Header-Content-Length {0:?} is not a decimal number of bytes")]
    InvalidLength(String),
    /// The length exceeds the body.
    #[error("Inference-Header-Content-Length {length} exceeds the body's {body} bytes")]
    TooLong {
        /// The header's value.
        length: u64,
        /// The body's length.
        body: usize,
    },
}

/// Splits a binary-extension body into its JSON header and its binary tensor data, given the
/// raw value of [`INFERENCE_HEADER_CONTENT_LENGTH`].
///
/// # Errors
/// A value that is not a decimal length, or one longer than the body.
pub fn split_body<'b>(
    body: &'b [u8],
    header_value: &[u8],
) -> Result<(&'b [u8], &'b [u8]), BinaryBodyError> {
    let invalid = || BinaryBodyError::InvalidLength(String::from_utf8_lossy(header_value).into());
    let text = std::str::from_utf8(header_value)
        .map_err(|_| invalid())?
        .trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let length: u64 = text.parse().map_err(|_| invalid())?;
    if length > body.len() as u64 {
        return Err(BinaryBodyError::TooLong {
            length,
            body: body.len(),
        });
    }
    Ok(body.split_at(length as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_json_from_tensor_bytes() {
        let json = br#"{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}"#;
        let mut body = json.to_vec();
        body.extend(1.5f32.to_le_bytes());
        let len = json.len().to_string();
        let (head, data) = split_body(&body, len.as_bytes()).unwrap();
        assert_eq!(head, json);
        assert_eq!(data, 1.5f32.to_le_bytes());
        // A whole-JSON body is the extension's degenerate case.
        assert_eq!(split_body(json, len.as_bytes()).unwrap().1, b"");
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert_eq!(
            split_body(b"{}", b"3"),
            Err(BinaryBodyError::TooLong { length: 3, body: 2 })
        );
        for bad in [
            &b""[..],
            b"-1",
            b"0x10",
            b"1e3",
            b"\xff",
            b"99999999999999999999999",
        ] {
            assert!(
                matches!(
                    split_body(b"{}", bad),
                    Err(BinaryBodyError::InvalidLength(_))
                ),
                "{bad:?}"
            );
        }
    }
}
