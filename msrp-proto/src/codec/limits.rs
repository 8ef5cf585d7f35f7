//! The decoder's hard limits. A peer can send endless headers or an endless chunk, so
//! every dimension the decoder buffers is capped here, with what happens at the cap.

/// Limits on what one frame may make the decoder hold or parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (start line, headers and the blank line before a body) in bytes.
    /// A frame without a body has no blank line; its end-line, which follows the
    /// headers directly, counts against this limit instead.
    /// A head that is not complete within this many bytes closes the connection
    /// (`HeadTooLarge`): without its end we cannot find the next frame.
    pub max_head_bytes: usize,
    /// Most URIs in one To-Path, From-Path or Use-Path. More is answered 400.
    pub max_uris_per_path: usize,
    /// Most header lines in one head. More is answered 400.
    pub max_headers: usize,
    /// Longest transaction id. RFC 4975 §9 `ident` allows 4 to 32 characters; a value
    /// up to [`Limits::TRANSACTION_ID_CAPACITY`] admits peers that send longer ones.
    pub max_transaction_id_bytes: usize,
    /// Largest body of one chunk in bytes. Bodies are streamed, never buffered whole,
    /// so this bounds how long one chunk may hold a leg, not memory. Over it the
    /// request is answered 413 and the rest of the chunk is discarded.
    pub max_chunk_bytes: u64,
}

impl Limits {
    /// The room a transaction id has inline (`TransactionId` is `Copy`, no heap).
    pub const TRANSACTION_ID_CAPACITY: usize = 64;

    /// Checks that every limit can work: nothing zero, the id length in range.
    pub fn validate(&self) -> Result<(), LimitsError> {
        // "MSRP " + 4-char tid + " SEND\r\n" + two minimal path headers: about 64 bytes.
        if self.max_head_bytes < 256 {
            return Err(LimitsError::new("max_head_bytes", "must be at least 256"));
        }
        // Heads keep 16-bit offsets into their bytes.
        if self.max_head_bytes > usize::from(u16::MAX) {
            return Err(LimitsError::new("max_head_bytes", "must be at most 65535"));
        }
        if self.max_uris_per_path == 0 {
            return Err(LimitsError::new("max_uris_per_path", "must be at least 1"));
        }
        if self.max_headers < 2 {
            return Err(LimitsError::new(
                "max_headers",
                "must be at least 2 (To-Path and From-Path)",
            ));
        }
        if !(4..=Self::TRANSACTION_ID_CAPACITY).contains(&self.max_transaction_id_bytes) {
            return Err(LimitsError::new(
                "max_transaction_id_bytes",
                "must be between 4 and 64",
            ));
        }
        if self.max_chunk_bytes == 0 {
            return Err(LimitsError::new("max_chunk_bytes", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_uris_per_path: 16,
            max_headers: 64,
            max_transaction_id_bytes: 32,
            max_chunk_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A limit that cannot work, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{field} {reason}")]
pub struct LimitsError {
    /// The field of [`Limits`] at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl LimitsError {
    fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_limit_names_its_field() {
        type Spoil = fn(&mut Limits);
        let cases: [(Spoil, &str); 6] = [
            (|l| l.max_head_bytes = 10, "max_head_bytes"),
            (|l| l.max_head_bytes = 70_000, "max_head_bytes"),
            (|l| l.max_uris_per_path = 0, "max_uris_per_path"),
            (|l| l.max_headers = 1, "max_headers"),
            (
                |l| l.max_transaction_id_bytes = 65,
                "max_transaction_id_bytes",
            ),
            (|l| l.max_chunk_bytes = 0, "max_chunk_bytes"),
        ];
        for (spoil, field) in cases {
            let mut limits = Limits::default();
            spoil(&mut limits);
            let err = limits.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.to_string().starts_with(&format!("limits.{field} ")));
        }
    }
}
