//! Reading and rewriting the `model_spec` of an encoded TF Serving request without decoding
//! anything else.
//!
//! A proxy routes on `model_spec` (name, version or label) and forwards the request with the
//! name of the model the chosen executor serves. Requests may carry megabytes of tensors, so
//! only the top-level field framing is walked (one length varint per field, no payload is
//! looked at), `model_spec` itself is parsed, and the output is the input's bytes with one
//! re-encoded `model_spec` field in place of the original.
//!
//! Semantics are protobuf's: a `model_spec` sent several times is merged (later scalar
//! fields win, the `version` message merges), a `version` / `version_label` sent later replaces
//! the other (they are a oneof). The rewritten request has exactly one `model_spec`, at the
//! position of the first one (at the start when there was none); decoding it gives the decoded
//! original with the edit applied. Unknown fields inside `model_spec` are kept (after the known
//! ones); unknown fields inside its `version` wrapper are dropped. For a canonically encoded
//! input (fields in number order, as prost and the official libraries write them) the output
//! is byte for byte what decoding, editing and re-encoding would give.
//!
//! For MultiInference requests, every `tasks[i].model_spec` is read and rewritten the same way;
//! [`read`] answers the first task's spec (TF Serving serves the whole request with it) and
//! refuses tasks naming different models, as TF Serving does.

use std::ops::Range;

use bytes::Bytes;

use crate::method::RequestKind;
use crate::raw::{self, LEN, VARINT, WireError, fields, put_len_field, put_len_key, put_varint};
pub use crate::splice::RewrittenBytes;
use crate::splice::Splice;

/// Field number of `model_spec` in every request type, and of `tasks` in MultiInference.
const SPEC_FIELD: u32 = 1;
/// `ModelSpec` field numbers.
const NAME: u32 = 1;
const VERSION: u32 = 2;
const SIGNATURE_NAME: u32 = 3;
const VERSION_LABEL: u32 = 4;

/// Which version of a model a spec selects (the `version_choice` oneof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version<'a> {
    /// Neither `version` nor `version_label`: the latest version.
    #[default]
    Latest,
    /// `version { value }` (note: `version {}` is version 0, not the latest).
    Number(i64),
    /// `version_label`.
    Label(&'a str),
}

/// A `ModelSpec` read from the wire, borrowing from the request bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelSpecView<'a> {
    /// `name` (empty when absent).
    pub name: &'a str,
    /// `version` or `version_label`.
    pub version: Version<'a>,
    /// `signature_name` (empty means `serving_default`).
    pub signature_name: &'a str,
}

/// What to change in a `model_spec`; `None` keeps the field as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecEdit<'e> {
    /// New `name`.
    pub name: Option<&'e str>,
    /// New version choice (`Some(Version::Latest)` clears both `version` and `version_label`).
    pub version: Option<Version<'e>>,
}

/// Reads the model spec of an encoded request.
///
/// A request without `model_spec` (and a MultiInference request without tasks) reads as the
/// default spec: empty name, latest version.
///
/// # Errors
/// Malformed framing at the top level, a malformed `model_spec`, or (MultiInference) tasks
/// naming different models.
pub fn read(kind: RequestKind, msg: &[u8]) -> Result<ModelSpecView<'_>, WireError> {
    if kind == RequestKind::MultiInference {
        let mut first: Option<ModelSpecView<'_>> = None;
        for field in fields(msg) {
            let field = field?;
            if field.number != SPEC_FIELD {
                continue;
            }
            expect_len("MultiInferenceRequest", &field)?;
            let spec = Acc::parse_in(msg, field.payload.clone(), false)?.view();
            match &first {
                None => first = Some(spec),
                Some(f) if f.name != spec.name => return Err(WireError::MixedModelNames),
                Some(_) => {}
            }
        }
        return Ok(first.unwrap_or_default());
    }
    Ok(Acc::parse_in(msg, 0..msg.len(), false)?.view())
}

/// Rewrites the model spec of an encoded request into a new buffer (the payload is copied once).
///
/// # Errors
/// As [`read`].
pub fn rewrite_to_vec(
    kind: RequestKind,
    msg: &[u8],
    edit: &SpecEdit<'_>,
) -> Result<Vec<u8>, WireError> {
    Ok(plan(kind, msg, edit)?.to_vec(msg))
}

/// Rewrites the model spec of an encoded request without copying the payload: the result is a
/// chain of slices of `msg` (shared, reference-counted) and small new pieces.
///
/// # Errors
/// As [`read`].
pub fn rewrite_bytes(
    kind: RequestKind,
    msg: &Bytes,
    edit: &SpecEdit<'_>,
) -> Result<RewrittenBytes, WireError> {
    Ok(plan(kind, msg, edit)?.into_bytes(msg))
}

fn plan(kind: RequestKind, msg: &[u8], edit: &SpecEdit<'_>) -> Result<Splice, WireError> {
    let mut splice = Splice::default();
    if kind == RequestKind::MultiInference {
        multi_inference(&mut splice, msg, edit)?;
    } else {
        spec_in(&mut splice, msg, 0..msg.len(), edit)?;
    }
    Ok(splice)
}

// === ModelSpec accumulation ===

/// The version oneof while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionAcc<'a> {
    None,
    Number(i64),
    Label(&'a str),
}

/// A `ModelSpec` merged from every occurrence, borrowing from the message.
#[derive(Debug)]
struct Acc<'a> {
    name: &'a str,
    signature_name: &'a str,
    version: VersionAcc<'a>,
    /// Unknown fields (whole, key included), absolute ranges into the message.
    unknown: Vec<Range<usize>>,
    /// Start of the first `model_spec` field, and how many there were.
    first: Option<usize>,
    count: usize,
}

impl<'a> Acc<'a> {
    fn new() -> Self {
        Self {
            name: "",
            signature_name: "",
            version: VersionAcc::None,
            unknown: Vec::new(),
            first: None,
            count: 0,
        }
    }

    /// Merges every `model_spec` (field 1) found among the fields of `msg[within]`.
    fn parse_in(
        msg: &'a [u8],
        within: Range<usize>,
        keep_unknown: bool,
    ) -> Result<Self, WireError> {
        let mut acc = Self::new();
        let base = within.start;
        for field in fields(&msg[within]) {
            let field = field?;
            if field.number != SPEC_FIELD {
                continue;
            }
            expect_len("request", &field)?;
            acc.first.get_or_insert(base + field.whole.start);
            acc.count += 1;
            let payload = base + field.payload.start..base + field.payload.end;
            acc.merge(msg, payload, keep_unknown)?;
        }
        Ok(acc)
    }

    /// Merges one encoded `ModelSpec` (`msg[payload]`).
    fn merge(
        &mut self,
        msg: &'a [u8],
        payload: Range<usize>,
        keep_unknown: bool,
    ) -> Result<(), WireError> {
        let base = payload.start;
        let spec = &msg[payload];
        for field in fields(spec) {
            let field = field?;
            match field.number {
                NAME => self.name = string_field(spec, &field)?,
                SIGNATURE_NAME => self.signature_name = string_field(spec, &field)?,
                VERSION_LABEL => self.version = VersionAcc::Label(string_field(spec, &field)?),
                VERSION => {
                    expect_len("ModelSpec", &field)?;
                    // A oneof member merges into itself, and replaces the other member.
                    let mut value = match self.version {
                        VersionAcc::Number(v) => v,
                        _ => 0,
                    };
                    for inner in fields(&spec[field.payload.clone()]) {
                        let inner = inner?;
                        if inner.number == 1 {
                            if inner.wire_type != VARINT {
                                return Err(WireError::WrongWireType {
                                    message: "Int64Value",
                                    field: 1,
                                    wire_type: inner.wire_type,
                                    expected: VARINT,
                                });
                            }
                            let mut p = field.payload.start + inner.payload.start;
                            value = raw::read_varint(spec, &mut p)? as i64;
                        }
                    }
                    self.version = VersionAcc::Number(value);
                }
                _ => {
                    if keep_unknown {
                        self.unknown
                            .push(base + field.whole.start..base + field.whole.end);
                    }
                }
            }
        }
        Ok(())
    }

    fn view(&self) -> ModelSpecView<'a> {
        ModelSpecView {
            name: self.name,
            version: match self.version {
                VersionAcc::None => Version::Latest,
                VersionAcc::Number(v) => Version::Number(v),
                VersionAcc::Label(l) => Version::Label(l),
            },
            signature_name: self.signature_name,
        }
    }

    /// Appends the edited `model_spec` as a whole field (key, length, payload) in canonical
    /// order: name (1), version or label (2 / 4), signature_name (3), then unknown fields.
    fn encode_field(&self, msg: &[u8], edit: &SpecEdit<'_>, out: &mut Vec<u8>) {
        let name = edit.name.unwrap_or(self.name);
        let version = edit.version.unwrap_or(self.view().version);
        let mut len = 0;
        if !name.is_empty() {
            len += len_field_size(NAME, name.len());
        }
        let version_inner = match version {
            Version::Number(v) if v != 0 => 1 + raw::varint_len(v as u64),
            _ => 0,
        };
        len += match version {
            Version::Latest => 0,
            Version::Number(_) => len_field_size(VERSION, version_inner),
            Version::Label(l) => len_field_size(VERSION_LABEL, l.len()),
        };
        if !self.signature_name.is_empty() {
            len += len_field_size(SIGNATURE_NAME, self.signature_name.len());
        }
        len += self.unknown.iter().map(|r| r.len()).sum::<usize>();

        put_len_key(out, SPEC_FIELD, len);
        if !name.is_empty() {
            put_len_field(out, NAME, name.as_bytes());
        }
        match version {
            Version::Latest => {}
            Version::Number(v) => {
                put_len_key(out, VERSION, version_inner);
                if v != 0 {
                    put_varint(out, 1 << 3);
                    put_varint(out, v as u64);
                }
            }
            Version::Label(l) => put_len_field(out, VERSION_LABEL, l.as_bytes()),
        }
        if !self.signature_name.is_empty() {
            put_len_field(out, SIGNATURE_NAME, self.signature_name.as_bytes());
        }
        for r in &self.unknown {
            out.extend_from_slice(&msg[r.clone()]);
        }
    }
}

fn len_field_size(number: u32, len: usize) -> usize {
    raw::varint_len(u64::from(number) << 3) + raw::varint_len(len as u64) + len
}

fn expect_len(message: &'static str, field: &raw::Field) -> Result<(), WireError> {
    if field.wire_type == LEN {
        Ok(())
    } else {
        Err(WireError::WrongWireType {
            message,
            field: field.number,
            wire_type: field.wire_type,
            expected: LEN,
        })
    }
}

fn string_field<'a>(spec: &'a [u8], field: &raw::Field) -> Result<&'a str, WireError> {
    expect_len("ModelSpec", field)?;
    std::str::from_utf8(&spec[field.payload.clone()]).map_err(|_| WireError::InvalidUtf8 {
        message: "ModelSpec",
        field: field.number,
    })
}

// === Rewrite plan ===

/// Emits `msg[within]` with its `model_spec` fields replaced by one edited field; returns the
/// spec as read.
fn spec_in<'a>(
    splice: &mut Splice,
    msg: &'a [u8],
    within: Range<usize>,
    edit: &SpecEdit<'_>,
) -> Result<ModelSpecView<'a>, WireError> {
    let acc = Acc::parse_in(msg, within.clone(), true)?;
    splice.replace_fields(
        msg,
        within,
        |n| n == SPEC_FIELD,
        |out| acc.encode_field(msg, edit, out),
    )?;
    Ok(acc.view())
}

/// MultiInference: every task (field 1) gets its `model_spec` rewritten; other fields (the
/// shared input) are copied.
fn multi_inference(splice: &mut Splice, msg: &[u8], edit: &SpecEdit<'_>) -> Result<(), WireError> {
    let mut first_name: Option<&str> = None;
    let mut run_start = 0;
    for field in fields(msg) {
        let field = field?;
        if field.number != SPEC_FIELD {
            continue;
        }
        expect_len("MultiInferenceRequest", &field)?;
        splice.push_original(run_start..field.whole.start);
        // The task's length changes: its key and length are new, its body is parts.
        let header = splice.reserve();
        let before = splice.len();
        let spec = spec_in(splice, msg, field.payload.clone(), edit)?;
        match first_name {
            None => first_name = Some(spec.name),
            Some(n) if n != spec.name => return Err(WireError::MixedModelNames),
            Some(_) => {}
        }
        let body_len = splice.len() - before;
        splice.fill(header, |out| put_len_key(out, SPEC_FIELD, body_len));
        run_start = field.whole.end;
    }
    splice.push_original(run_start..msg.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_field(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_len_field(&mut out, 1, payload);
        out
    }

    #[test]
    fn reads_name_version_label_and_signature() {
        // name "m", version {value 7}, signature "s"
        let mut spec = Vec::new();
        put_len_field(&mut spec, NAME, b"m");
        put_len_field(&mut spec, VERSION, &[0x08, 7]);
        put_len_field(&mut spec, SIGNATURE_NAME, b"s");
        let mut msg = spec_field(&spec);
        put_len_field(&mut msg, 2, b"tensor bytes");
        let v = read(RequestKind::Predict, &msg).unwrap();
        assert_eq!(
            v,
            ModelSpecView {
                name: "m",
                version: Version::Number(7),
                signature_name: "s"
            }
        );
        // A later label replaces the version (oneof); a later name wins.
        let mut later = Vec::new();
        put_len_field(&mut later, VERSION_LABEL, b"canary");
        put_len_field(&mut later, NAME, b"n");
        msg.extend(spec_field(&later));
        let v = read(RequestKind::Predict, &msg).unwrap();
        assert_eq!(v.name, "n");
        assert_eq!(v.version, Version::Label("canary"));
        assert_eq!(v.signature_name, "s");
        assert_eq!(
            read(RequestKind::GetModelStatus, &[]).unwrap(),
            ModelSpecView::default()
        );
    }

    #[test]
    fn rewrite_replaces_only_the_spec() {
        let mut spec = Vec::new();
        put_len_field(&mut spec, NAME, b"alias");
        let mut msg = spec_field(&spec);
        let payload = vec![0xab; 1000];
        put_len_field(&mut msg, 2, &payload);
        let edit = SpecEdit {
            name: Some("real-model"),
            version: Some(Version::Number(3)),
        };
        let out = rewrite_to_vec(RequestKind::Predict, &msg, &edit).unwrap();
        let v = read(RequestKind::Predict, &out).unwrap();
        assert_eq!(v.name, "real-model");
        assert_eq!(v.version, Version::Number(3));
        assert!(out.ends_with(&msg[spec_field(&spec).len()..]));
        let bytes = Bytes::from(msg.clone());
        let chained = rewrite_bytes(RequestKind::Predict, &bytes, &edit).unwrap();
        assert_eq!(chained.len(), out.len());
        assert_eq!(chained.to_vec(), out);
        // The payload is shared, not copied: the chain's last chunk points into `bytes`.
        let last = chained.chunks().last().unwrap();
        assert_eq!(last.as_ptr(), bytes[msg.len() - last.len()..].as_ptr());
    }

    #[test]
    fn multi_inference_rewrites_every_task_and_refuses_mixed_models() {
        let task = |name: &[u8]| {
            let mut spec = Vec::new();
            put_len_field(&mut spec, NAME, name);
            let mut t = spec_field(&spec);
            put_len_field(&mut t, 2, b"tensorflow/serving/regress");
            t
        };
        let mut msg = Vec::new();
        put_len_field(&mut msg, 1, &task(b"a"));
        put_len_field(&mut msg, 1, &task(b"a"));
        put_len_field(&mut msg, 2, b"input");
        let edit = SpecEdit {
            name: Some("bbbb"),
            version: None,
        };
        let out = rewrite_to_vec(RequestKind::MultiInference, &msg, &edit).unwrap();
        assert_eq!(
            read(RequestKind::MultiInference, &out).unwrap().name,
            "bbbb"
        );
        let mut tasks = 0;
        for f in fields(&out) {
            let f = f.unwrap();
            if f.number == 1 {
                tasks += 1;
                assert_eq!(
                    read(RequestKind::Predict, &out[f.payload]).unwrap().name,
                    "bbbb"
                );
            }
        }
        assert_eq!(tasks, 2);
        let mut mixed = Vec::new();
        put_len_field(&mut mixed, 1, &task(b"a"));
        put_len_field(&mut mixed, 1, &task(b"b"));
        assert_eq!(
            read(RequestKind::MultiInference, &mixed),
            Err(WireError::MixedModelNames)
        );
    }
}
