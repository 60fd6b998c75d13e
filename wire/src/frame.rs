//! gRPC's length-prefixed message framing: a 1-byte compressed flag and a 4-byte big-endian
//! length before each message on the HTTP/2 stream.

/// Length of the prefix before each gRPC message.
pub const HEADER_LEN: usize = 5;

/// The prefix of one gRPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether the message is compressed with the call's `grpc-encoding`.
    pub compressed: bool,
    /// Length of the message that follows, bytes.
    pub len: u32,
}

/// A prefix that is not gRPC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid gRPC message prefix: compressed flag {0} is neither 0 nor 1")]
pub struct FrameError(pub u8);

// === impl FrameHeader ===

impl FrameHeader {
    /// Reads a prefix.
    ///
    /// # Errors
    /// When the flag byte is neither 0 nor 1.
    pub fn parse(bytes: [u8; HEADER_LEN]) -> Result<Self, FrameError> {
        let compressed = match bytes[0] {
            0 => false,
            1 => true,
            other => return Err(FrameError(other)),
        };
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Ok(Self { compressed, len })
    }

    /// The prefix's bytes.
    pub fn encode(self) -> [u8; HEADER_LEN] {
        let [a, b, c, d] = self.len.to_be_bytes();
        [u8::from(self.compressed), a, b, c, d]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trips_and_rejects_bad_flags() {
        let h = FrameHeader {
            compressed: false,
            len: 0x0102_0304,
        };
        assert_eq!(h.encode(), [0, 1, 2, 3, 4]);
        assert_eq!(FrameHeader::parse(h.encode()), Ok(h));
        assert_eq!(FrameHeader::parse([2, 0, 0, 0, 0]), Err(FrameError(2)));
    }
}
