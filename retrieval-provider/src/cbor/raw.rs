//! [`RawCbor`]: one complete CBOR data item kept as bytes.

use std::fmt;

use ipld_core::ipld::Ipld;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CborError;
use super::wire::Reader;

/// One complete DAG-CBOR data item, kept as its encoded bytes.
///
/// Used where Go holds an opaque IPLD node: [`Params::selector`](crate::Params::selector) (a
/// selector node) and [`DealPayment::payment_voucher`](crate::DealPayment::payment_voucher)
/// (a tuple-encoded `paych.SignedVoucher`, not modelled field by field in this crate).
///
/// Serde goes through [`Ipld`], so with `serde_ipld_dagcbor` the bytes are written back
/// unchanged as long as they are canonical DAG-CBOR (which is what Go's `dagcbor.Encode`
/// produces); non-canonical input (unsorted map keys, say) is normalised.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawCbor(Vec<u8>);

impl RawCbor {
    /// Wraps `bytes` after checking that they hold exactly one well-formed CBOR item.
    pub fn new(bytes: Vec<u8>) -> Result<RawCbor, CborError> {
        let mut reader = Reader::new(&bytes);
        reader.item("RawCbor")?;
        reader.finish()?;
        Ok(RawCbor(bytes))
    }

    /// Encodes an IPLD value as DAG-CBOR.
    pub fn from_ipld(value: &Ipld) -> Result<RawCbor, CborError> {
        serde_ipld_dagcbor::to_vec(value)
            .map(RawCbor)
            .map_err(|e| CborError::serde("RawCbor", e))
    }

    /// Decodes the bytes as an IPLD value.
    pub fn to_ipld(&self) -> Result<Ipld, CborError> {
        serde_ipld_dagcbor::from_slice(&self.0).map_err(|e| CborError::serde("RawCbor", e))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the item is CBOR `null` (IPLD Null).
    pub fn is_null(&self) -> bool {
        self.0 == [super::wire::NULL]
    }
}

impl fmt::Debug for RawCbor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawCbor(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Serialize for RawCbor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_ipld()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawCbor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Ipld::deserialize(deserializer)?;
        RawCbor::from_ipld(&value).map_err(serde::de::Error::custom)
    }
}
