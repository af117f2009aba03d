//! CBOR byte-identical to go-fil-markets' cbor-gen layout.
//!
//! [`to_cbor`] and [`from_cbor`] give Go's exact bytes for every record type ([`GoCbor`]).
//!
//! # How the layout is produced
//!
//! * Records that hold no peer id ([`DealProposal`], [`Params`], [`DealResponse`],
//!   [`DealPayment`], [`PieceInfo`], [`DealInfo`]) go through their serde impls and
//!   `serde_ipld_dagcbor`. It writes structs as definite-length maps with keys in RFC 7049
//!   canonical order (shorter first, then bytewise), CIDs as tag 42 over `0x00 ‖ cid`, `None`
//!   as `null`; [`TokenAmount`] serialises to Go's sign-byte byte string. That is cbor-gen's
//!   `--map-encoding` layout. Decoding accepts any key order (the crate enables
//!   `serde_ipld_dagcbor`'s `less-strict-decoding` feature, since cbor-gen does not require
//!   canonical order), skips unknown keys and leaves missing keys at their defaults (serde
//!   derive with `#[serde(default)]`).
//! * [`ProviderDealState`] and [`ChannelId`] are written by hand in `state.rs`, because Go
//!   writes a `peer.ID` (raw multihash bytes, usually not UTF-8) inside a CBOR *text*-string
//!   header. Serde can only hand a serializer a `&str`, and `serde_ipld_dagcbor` rejects text
//!   that is not UTF-8 when decoding, so neither direction can be expressed through it. Only
//!   the map around the peer ids is hand-written: nested records are encoded and decoded by
//!   `serde_ipld_dagcbor` and spliced in.
//!
//! The serde impls of [`ProviderDealState`] and [`ChannelId`] remain available for other
//! formats; through `serde_ipld_dagcbor` they write peer ids as byte strings, which is *not*
//! Go's layout. Store records with [`encode_state`] / [`decode_state`], or give a state group
//! [`ProviderDealStateCodec`] (an `fsm_runtime::codec::Codec`).
//!
//! # Limits and errors
//!
//! Every failure is a [`CborError`], never a panic: truncated or malformed input,
//! indefinite-length or non-minimal headers (cbor-gen rejects both), a big-int prefix other
//! than 0 or 1, a big int over 128 bytes, strings over 8192 bytes, trailing bytes. Encoding
//! fails only for a string over 8192 bytes or a big int over 128 bytes, as Go's does.

mod raw;
mod state;
pub(crate) mod wire;

pub use raw::RawCbor;
pub use state::{ProviderDealStateCodec, decode_state, encode_state};
pub use wire::MAX_STRING_LEN;

use crate::ids::ChannelId;
use crate::token::{BigIntError, TokenAmount};
#[cfg(doc)]
use crate::types::ProviderDealState;
use crate::types::{DealInfo, DealPayment, DealProposal, DealResponse, Params, PieceInfo};

/// Why bytes could not be decoded, or a value encoded, in Go's CBOR layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The input ends in the middle of an item.
    #[error("CBOR input ends early at byte {offset} while reading {context}")]
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
        /// What was being read.
        context: &'static str,
    },
    /// An item of the wrong kind.
    #[error("{context}: expected {expected}, found initial byte 0x{found:02x} at byte {offset}")]
    UnexpectedType {
        /// Offset of the item.
        offset: usize,
        /// What was being read.
        context: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The item's initial byte.
        found: u8,
    },
    /// An indefinite-length item (cbor-gen never writes them).
    #[error("indefinite-length CBOR item at byte {offset} is not supported")]
    Indefinite {
        /// Offset of the item.
        offset: usize,
    },
    /// A reserved additional-information value (28–30).
    #[error("malformed CBOR: reserved initial byte 0x{byte:02x} at byte {offset}")]
    Reserved {
        /// Offset of the item.
        offset: usize,
        /// The initial byte.
        byte: u8,
    },
    /// A header whose argument is not in its shortest form.
    #[error("cbor input was not canonical (non-minimal header at byte {offset})")]
    NonCanonical {
        /// Offset of the header.
        offset: usize,
    },
    /// A string longer than [`MAX_STRING_LEN`].
    #[error("{context}: string of {len} bytes exceeds the {MAX_STRING_LEN}-byte limit")]
    StringTooLong {
        /// The field.
        context: &'static str,
        /// The string's length.
        len: u64,
    },
    /// A text field that must be UTF-8 is not.
    #[error("{context}: text is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        context: &'static str,
    },
    /// A malformed or oversized big integer.
    #[error("{context}: {source}")]
    BigInt {
        /// The field.
        context: &'static str,
        /// What is wrong with it.
        source: BigIntError,
    },
    /// A tuple with the wrong number of elements.
    #[error(
        "cbor input had wrong number of fields for {context}: expected {expected}, found {found}"
    )]
    WrongFieldCount {
        /// The type.
        context: &'static str,
        /// Fields the type has.
        expected: u64,
        /// Elements found.
        found: u64,
    },
    /// A key without which the record cannot exist (one holding a CID, which has no zero
    /// value that Go could have written).
    #[error("{context}: missing required key {key:?}")]
    MissingKey {
        /// The type.
        context: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A status code outside 0–34.
    #[error("{context}: unknown deal status code {code}")]
    UnknownStatus {
        /// The field.
        context: &'static str,
        /// The code found.
        code: u64,
    },
    /// Bytes left after the value.
    #[error("{count} trailing byte(s) after the CBOR value at byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many bytes are left.
        count: usize,
    },
    /// `serde_ipld_dagcbor` rejected a value (its message is kept; big-int and string-length
    /// errors inside it carry Go's wording).
    #[error("{type_name}: {message}")]
    Serde {
        /// The type being encoded or decoded.
        type_name: &'static str,
        /// The underlying error.
        message: String,
    },
}

impl CborError {
    pub(crate) fn serde(type_name: &'static str, err: impl std::fmt::Display) -> Self {
        CborError::Serde {
            type_name,
            message: err.to_string(),
        }
    }
}

/// A type with Go's exact CBOR encoding.
pub trait GoCbor: Sized {
    /// Encodes `self` as Go would.
    fn to_go_cbor(&self) -> Result<Vec<u8>, CborError>;
    /// Decodes exactly one value from `bytes` (trailing bytes are an error).
    fn from_go_cbor(bytes: &[u8]) -> Result<Self, CborError>;
}

/// Encodes `value` in Go's layout.
///
/// Returns a `Result` because Go's encoder fails too: a string over 8192 bytes or a big int
/// over 128 bytes cannot be written.
pub fn to_cbor<T: GoCbor>(value: &T) -> Result<Vec<u8>, CborError> {
    value.to_go_cbor()
}

/// Decodes one value in Go's layout from `bytes`.
pub fn from_cbor<T: GoCbor>(bytes: &[u8]) -> Result<T, CborError> {
    T::from_go_cbor(bytes)
}

/// `GoCbor` through serde and `serde_ipld_dagcbor`, for types whose layout serde expresses.
macro_rules! go_cbor_via_serde {
    ($($t:ty),* $(,)?) => {$(
        impl GoCbor for $t {
            fn to_go_cbor(&self) -> Result<Vec<u8>, CborError> {
                serde_ipld_dagcbor::to_vec(self).map_err(|e| CborError::serde(stringify!($t), e))
            }
            fn from_go_cbor(bytes: &[u8]) -> Result<Self, CborError> {
                // Our own reader first: it reports truncation, indefinite lengths and trailing
                // bytes as typed errors before serde sees the input.
                let mut reader = wire::Reader::new(bytes);
                reader.item(stringify!($t))?;
                reader.finish()?;
                serde_ipld_dagcbor::from_slice(bytes)
                    .map_err(|e| CborError::serde(stringify!($t), e))
            }
        }
    )*};
}

go_cbor_via_serde!(
    DealProposal,
    Params,
    DealResponse,
    DealPayment,
    PieceInfo,
    DealInfo,
    TokenAmount,
);

/// Serde helper for Go `string` fields: at most [`MAX_STRING_LEN`] bytes in either direction.
pub(crate) mod limited_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::MAX_STRING_LEN;

    pub(crate) fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        if value.len() > MAX_STRING_LEN {
            return Err(serde::ser::Error::custom(format_args!(
                "string of {} bytes exceeds the {MAX_STRING_LEN}-byte limit",
                value.len()
            )));
        }
        serializer.serialize_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<String, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.len() > MAX_STRING_LEN {
            return Err(serde::de::Error::custom(format_args!(
                "string of {} bytes exceeds the {MAX_STRING_LEN}-byte limit",
                value.len()
            )));
        }
        Ok(value)
    }
}

impl GoCbor for ChannelId {
    fn to_go_cbor(&self) -> Result<Vec<u8>, CborError> {
        let mut out = Vec::new();
        state::write_channel_id(&mut out, self)?;
        Ok(out)
    }

    fn from_go_cbor(bytes: &[u8]) -> Result<Self, CborError> {
        let mut reader = wire::Reader::new(bytes);
        let value = state::read_channel_id(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}
