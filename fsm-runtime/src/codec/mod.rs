//! How a machine's record is turned into bytes for a [`Store`](crate::store::Store).

mod encoder;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes and decodes records of type `T`.
///
/// The group is generic over its codec so that a crate with a fixed wire format (for example a
/// cbor-gen compatible encoding) can plug its own in; the default is [`DagCbor`].
pub trait Codec<T>: Send + Sync + 'static {
    /// The codec's name, kept in the group's store header: a group refuses to open records
    /// written with another codec. Change it when the encoding changes incompatibly.
    fn name(&self) -> &str;

    /// Appends the encoding of `value` to `out`.
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a record written by [`Codec::encode`].
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// A record could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Encoding failed.
    #[error("cannot encode record: {0}")]
    Encode(String),
    /// The bytes are not a valid record.
    #[error("cannot decode record: {0}")]
    Decode(String),
}

/// DAG-CBOR through serde: the default codec, giving portable bytes.
///
/// Encoding writes exactly the bytes of `serde_ipld_dagcbor::to_vec`, but with a serializer that
/// sorts map entries in place instead of buffering each one (see `encoder`); a value it does not
/// accept is handed to `serde_ipld_dagcbor`, so errors are also the same. Decoding is
/// `serde_ipld_dagcbor::from_slice`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DagCbor;

impl<T: Serialize + DeserializeOwned> Codec<T> for DagCbor {
    fn name(&self) -> &str {
        "dag-cbor"
    }

    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match encoder::encode(value, out) {
            Ok(()) => Ok(()),
            // `out` is untouched; let the reference implementation produce its own error.
            Err(encoder::Unsupported) => serde_ipld_dagcbor::to_writer(out, value)
                .map_err(|e| CodecError::Encode(e.to_string())),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CodecError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Record {
        status: u8,
        note: String,
    }

    #[test]
    fn dag_cbor_round_trips() {
        let record = Record {
            status: 3,
            note: "hi".into(),
        };
        let mut bytes = Vec::new();
        DagCbor.encode(&record, &mut bytes).unwrap();
        let back: Record = DagCbor.decode(&bytes).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let result: Result<Record, _> = DagCbor.decode(&[0xff, 0x00, 0x13]);
        assert!(matches!(result, Err(CodecError::Decode(_))));
    }
}
