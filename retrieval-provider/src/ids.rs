//! Identifiers: [`DealId`], [`PeerId`], [`ChannelId`], [`ProviderDealIdentifier`] and the
//! payment-channel [`Address`].

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A retrieval deal id (Go's `retrievalmarket.DealID`, a `uint64`). `Display` is decimal.
#[derive(
    Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DealId(pub u64);

impl fmt::Display for DealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for DealId {
    fn from(id: u64) -> Self {
        DealId(id)
    }
}

/// A libp2p peer id: the raw binary multihash bytes (Go keeps them in a `string`).
///
/// `Display` and `Debug` give base58btc, as Go's `peer.ID.String()`. The bytes are usually not
/// valid UTF-8; in Go's CBOR they sit inside a *text*-string header (see [`crate::cbor`]).
/// Serde writes bytes for binary formats and base58btc for human-readable ones.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub Vec<u8>);

impl PeerId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the id is empty (Go's `""`, used by the test fixtures).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a base58btc string.
    pub fn from_base58(s: &str) -> Result<PeerId, bs58::decode::Error> {
        bs58::decode(s).into_vec().map(PeerId)
    }
}

impl From<&[u8]> for PeerId {
    fn from(bytes: &[u8]) -> Self {
        PeerId(bytes.to_vec())
    }
}

impl From<Vec<u8>> for PeerId {
    fn from(bytes: Vec<u8>) -> Self {
        PeerId(bytes)
    }
}

impl From<&str> for PeerId {
    /// The id whose raw bytes are `s`'s UTF-8 bytes (Go's `peer.ID("initiator")`).
    fn from(s: &str) -> Self {
        PeerId(s.as_bytes().to_vec())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).into_string())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeerIdVisitor {
            human_readable: bool,
        }
        impl Visitor<'_> for PeerIdVisitor {
            type Value = PeerId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("peer id bytes or a base58btc string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<PeerId, E> {
                Ok(PeerId(v.to_vec()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PeerId, E> {
                if self.human_readable {
                    PeerId::from_base58(v).map_err(E::custom)
                } else {
                    // A binary format that found a text string: Go's layout, raw bytes.
                    Ok(PeerId(v.as_bytes().to_vec()))
                }
            }
        }
        let human_readable = deserializer.is_human_readable();
        let visitor = PeerIdVisitor { human_readable };
        if human_readable {
            deserializer.deserialize_str(visitor)
        } else {
            deserializer.deserialize_any(visitor)
        }
    }
}

/// A data-transfer transfer id (Go's `datatransfer.TransferID`).
pub type TransferId = u64;

/// A data-transfer channel id (Go's `datatransfer.ChannelID`). For a retrieval the initiator
/// is the client and the responder the provider. `Display` is `"<init>-<resp>-<id>"`.
///
/// Serde writes the 3-tuple `[initiator, responder, id]`, Go's layout (with the peer-id caveat
/// of [`PeerId`]).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChannelId {
    /// The peer that opened the channel.
    pub initiator: PeerId,
    /// The peer that answered.
    pub responder: PeerId,
    /// The initiator's transfer id.
    pub id: TransferId,
}

impl ChannelId {
    /// A channel id from its three parts.
    pub fn new(initiator: impl Into<PeerId>, responder: impl Into<PeerId>, id: TransferId) -> Self {
        ChannelId {
            initiator: initiator.into(),
            responder: responder.into(),
            id,
        }
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.initiator, self.responder, self.id)
    }
}

impl Serialize for ChannelId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&self.initiator)?;
        tuple.serialize_element(&self.responder)?;
        tuple.serialize_element(&self.id)?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for ChannelId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChannelIdVisitor;
        impl<'de> Visitor<'de> for ChannelIdVisitor {
            type Value = ChannelId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [initiator, responder, id] tuple")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChannelId, A::Error> {
                let initiator = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let responder = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let id = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(ChannelId {
                    initiator,
                    responder,
                    id,
                })
            }
        }
        deserializer.deserialize_tuple(3, ChannelIdVisitor)
    }
}

/// The key of a provider deal (Go's `ProviderDealIdentifier`): the client peer and the deal
/// id. `Display` is `"<receiver base58>/<deal id>"`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ProviderDealIdentifier {
    /// The client peer.
    pub receiver: PeerId,
    /// The deal id the client chose.
    pub deal_id: DealId,
}

impl fmt::Display for ProviderDealIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.receiver, self.deal_id)
    }
}

/// A Filecoin address (the payment channel of a [`DealPayment`](crate::DealPayment)), kept as
/// its binary form: the protocol byte followed by the payload. Empty is Go's `address.Undef`.
///
/// Serde writes a byte string (go-address's CBOR form).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Address(pub Vec<u8>);

impl Address {
    /// Whether this is the undefined address.
    pub fn is_undef(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_bytes::ByteBuf::deserialize(deserializer).map(|b| Address(b.into_vec()))
    }
}
