//! Protobuf's wire format at the lowest level: varints, field keys and skipping a field
//! without decoding it. Every read is bounds-checked; malformed input is a [`WireError`],
//! never a panic. The rules follow prost's decoder, so whatever prost accepts is accepted here.

use std::ops::Range;

/// How deep groups may nest before the input is refused (prost's default recursion limit).
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Malformed protobuf input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ends inside a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A varint longer than 10 bytes or beyond 64 bits.
    #[error("invalid varint in protobuf message")]
    InvalidVarint,
    /// A field key with field number 0, beyond 2^29 − 1, or wire type 6 or 7.
    #[error("invalid field key {0} in protobuf message")]
    InvalidKey(u64),
    /// A known field sent with a wire type its type cannot have.
    #[error("field {field} of {message} has wire type {wire_type}, expected {expected}")]
    WrongWireType {
        /// Message name.
        message: &'static str,
        /// Field number.
        field: u32,
        /// Wire type found.
        wire_type: u8,
        /// Wire type expected.
        expected: u8,
    },
    /// A string field that is not UTF-8.
    #[error("field {field} of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// Message name.
        message: &'static str,
        /// Field number.
        field: u32,
    },
    /// An end-group key without its start, or groups nested too deeply.
    #[error("invalid group nesting in protobuf message")]
    InvalidGroup,
    /// A MultiInference request whose tasks name different models (TF Serving refuses these).
    #[error("All ModelSpecs in a MultiInferenceRequest must access the same model name.")]
    MixedModelNames,
}

/// Protobuf wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const I32: u8 = 5;

/// One field of a message: its number, wire type, the byte range of the whole field (key
/// included) and, for length-delimited fields, the range of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub number: u32,
    pub wire_type: u8,
    pub whole: Range<usize>,
    pub payload: Range<usize>,
}

/// Iterates over the top-level fields of an encoded message.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The fields of `buf`, in order.
pub(crate) fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, pos: 0 }
}

impl Iterator for Fields<'_> {
    type Item = Result<Field, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let result = next_field(self.buf, &mut self.pos);
        if result.is_err() {
            // Stop after the first error.
            self.pos = self.buf.len();
        }
        Some(result)
    }
}

fn next_field(buf: &[u8], pos: &mut usize) -> Result<Field, WireError> {
    let start = *pos;
    let (number, wire_type) = read_key(buf, pos)?;
    let payload_start = *pos;
    skip_value(buf, pos, number, wire_type, 0)?;
    let payload = if wire_type == LEN {
        // Recompute the payload start behind the length prefix.
        let mut p = payload_start;
        let len = read_varint(buf, &mut p)?;
        p..p + len as usize
    } else {
        payload_start..*pos
    };
    Ok(Field {
        number,
        wire_type,
        whole: start..*pos,
        payload,
    })
}

/// Reads a varint at `*pos`, advancing it.
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some(&byte) = buf.get(*pos) else {
            return Err(WireError::Truncated);
        };
        *pos += 1;
        if i == 9 && byte > 1 {
            return Err(WireError::InvalidVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::InvalidVarint)
}

/// Reads a field key, checking the field number and wire type are valid.
pub(crate) fn read_key(buf: &[u8], pos: &mut usize) -> Result<(u32, u8), WireError> {
    let key = read_varint(buf, pos)?;
    if key > u64::from(u32::MAX) {
        return Err(WireError::InvalidKey(key));
    }
    let wire_type = (key & 7) as u8;
    let number = (key >> 3) as u32;
    if number == 0 || wire_type > 5 {
        return Err(WireError::InvalidKey(key));
    }
    Ok((number, wire_type))
}

/// Skips the value of a field whose key was just read.
fn skip_value(
    buf: &[u8],
    pos: &mut usize,
    number: u32,
    wire_type: u8,
    depth: u32,
) -> Result<(), WireError> {
    let advance = |pos: &mut usize, n: u64| -> Result<(), WireError> {
        let end = (*pos as u64).checked_add(n).ok_or(WireError::Truncated)?;
        if end > buf.len() as u64 {
            return Err(WireError::Truncated);
        }
        *pos = end as usize;
        Ok(())
    };
    match wire_type {
        VARINT => read_varint(buf, pos).map(drop),
        I64 => advance(pos, 8),
        I32 => advance(pos, 4),
        LEN => {
            let len = read_varint(buf, pos)?;
            advance(pos, len)
        }
        START_GROUP => {
            if depth >= RECURSION_LIMIT {
                return Err(WireError::InvalidGroup);
            }
            loop {
                let (inner, inner_type) = read_key(buf, pos)?;
                if inner_type == END_GROUP {
                    return if inner == number {
                        Ok(())
                    } else {
                        Err(WireError::InvalidGroup)
                    };
                }
                skip_value(buf, pos, inner, inner_type, depth + 1)?;
            }
        }
        _ => Err(WireError::InvalidGroup),
    }
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field's key and length.
pub(crate) fn put_len_key(out: &mut Vec<u8>, number: u32, len: usize) {
    put_varint(out, (u64::from(number) << 3) | u64::from(LEN));
    put_varint(out, len as u64);
}

/// Appends a length-delimited field.
pub(crate) fn put_len_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_len_key(out, number, payload.len());
    out.extend_from_slice(payload);
}

/// Number of bytes of `value` as a varint.
pub(crate) fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0xff; 10], &mut pos),
            Err(WireError::InvalidVarint)
        );
        let mut pos = 0;
        assert_eq!(read_varint(&[0x80], &mut pos), Err(WireError::Truncated));
    }

    #[test]
    fn fields_skip_every_wire_type() {
        // 1: varint 150; 2: "ab"; 3: fixed64; 4: group { 1: varint 1 }; 5: fixed32.
        let msg = [
            0x08, 0x96, 0x01, 0x12, 2, b'a', b'b', 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0x23, 0x08, 1,
            0x24, 0x2d, 0, 0, 0, 0,
        ];
        let got: Vec<(u32, u8)> = fields(&msg)
            .map(|f| f.map(|f| (f.number, f.wire_type)))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, [(1, 0), (2, 2), (3, 1), (4, 3), (5, 5)]);
        let second = fields(&msg).nth(1).unwrap().unwrap();
        assert_eq!(&msg[second.payload], b"ab");
    }

    #[test]
    fn malformed_input_is_an_error() {
        let first = |b: &[u8]| fields(b).next().unwrap();
        assert_eq!(first(&[0x12, 5, b'a']), Err(WireError::Truncated));
        assert_eq!(first(&[0x00]), Err(WireError::InvalidKey(0)));
        assert_eq!(first(&[0x0e]), Err(WireError::InvalidKey(0x0e)));
        assert_eq!(first(&[0x0c]), Err(WireError::InvalidGroup));
        assert_eq!(first(&[0x0b, 0x14]), Err(WireError::InvalidGroup));
        let deep: Vec<u8> = std::iter::repeat_n(0x0b, 200).collect();
        assert_eq!(first(&deep), Err(WireError::InvalidGroup));
    }
}
