//! Hand-written Go layout of [`ProviderDealState`] and [`ChannelId`].
//!
//! Written by hand because of peer ids: Go stores `peer.ID` (raw multihash bytes, generally
//! not UTF-8) inside a CBOR *text*-string header, which serde cannot write (a serializer only
//! accepts `&str`) and `serde_ipld_dagcbor` refuses to read. Nested records without peer ids
//! (`DealProposal`, `PieceInfo`) still go through serde and are spliced in.

use fsm_runtime::codec::{Codec, CodecError};

use super::wire::{self, MAJ_ARRAY, MAJ_MAP, MAJ_UINT, Reader};
use super::{CborError, GoCbor};
use crate::ids::{ChannelId, PeerId};
use crate::status::DealStatus;
use crate::token::TokenAmount;
use crate::types::{DealProposal, PieceInfo, ProviderDealState};

/// `ProviderDealState`'s keys in the order cbor-gen writes them (RFC 7049 canonical order:
/// shorter first, then bytewise).
pub(crate) const PROVIDER_DEAL_STATE_KEYS: [&str; 8] = [
    "Status",
    "Message",
    "StoreID",
    "Receiver",
    "ChannelID",
    "PieceInfo",
    "DealProposal",
    "FundsReceived",
];

/// Writes a `ChannelID`: the tuple `[Initiator, Responder, ID]`.
pub(crate) fn write_channel_id(out: &mut Vec<u8>, chid: &ChannelId) -> Result<(), CborError> {
    wire::write_header(out, MAJ_ARRAY, 3);
    wire::write_text(out, chid.initiator.as_bytes(), "ChannelID.Initiator")?;
    wire::write_text(out, chid.responder.as_bytes(), "ChannelID.Responder")?;
    wire::write_header(out, MAJ_UINT, chid.id);
    Ok(())
}

/// Reads a `ChannelID` tuple.
pub(crate) fn read_channel_id(reader: &mut Reader<'_>) -> Result<ChannelId, CborError> {
    let len = reader.array("ChannelID")?;
    if len != 3 {
        return Err(CborError::WrongFieldCount {
            context: "ChannelID",
            expected: 3,
            found: len,
        });
    }
    Ok(ChannelId {
        initiator: PeerId(reader.text("ChannelID.Initiator")?.to_vec()),
        responder: PeerId(reader.text("ChannelID.Responder")?.to_vec()),
        id: reader.uint("ChannelID.ID")?,
    })
}

/// Encodes a nested record through serde and appends it.
fn splice<T: GoCbor>(out: &mut Vec<u8>, value: &T) -> Result<(), CborError> {
    out.extend_from_slice(&value.to_go_cbor()?);
    Ok(())
}

/// Encodes a provider deal record in Go's exact bytes (what the Go provider stores).
pub fn encode_state(state: &ProviderDealState) -> Result<Vec<u8>, CborError> {
    let mut out = Vec::with_capacity(256);
    // Keys in PROVIDER_DEAL_STATE_KEYS order (canonical; checked by a unit test).
    let key = |out: &mut Vec<u8>, key: &'static str| wire::write_text(out, key.as_bytes(), key);
    wire::write_header(&mut out, MAJ_MAP, PROVIDER_DEAL_STATE_KEYS.len() as u64);
    key(&mut out, "Status")?;
    wire::write_header(&mut out, MAJ_UINT, state.status.code());
    key(&mut out, "Message")?;
    wire::write_text(
        &mut out,
        state.message.as_bytes(),
        "ProviderDealState.Message",
    )?;
    key(&mut out, "StoreID")?;
    wire::write_header(&mut out, MAJ_UINT, state.store_id);
    key(&mut out, "Receiver")?;
    wire::write_text(
        &mut out,
        state.receiver.as_bytes(),
        "ProviderDealState.Receiver",
    )?;
    key(&mut out, "ChannelID")?;
    match &state.channel_id {
        Some(chid) => write_channel_id(&mut out, chid)?,
        None => out.push(wire::NULL),
    }
    key(&mut out, "PieceInfo")?;
    match &state.piece_info {
        Some(info) => splice(&mut out, info)?,
        None => out.push(wire::NULL),
    }
    key(&mut out, "DealProposal")?;
    splice(&mut out, &state.deal_proposal)?;
    key(&mut out, "FundsReceived")?;
    let funds = state
        .funds_received
        .to_sign_bytes()
        .map_err(|source| CborError::BigInt {
            context: "ProviderDealState.FundsReceived",
            source,
        })?;
    wire::write_bytes(&mut out, &funds);
    Ok(out)
}

/// Decodes a provider deal record from Go's bytes.
///
/// Accepts the keys in any order, skips unknown keys (so legacy v1 records with `TotalSent`,
/// `CurrentInterval` and `LegacyProtocol` decode), and leaves missing keys at their zero
/// values, except `DealProposal`, which holds a CID and is required.
pub fn decode_state(bytes: &[u8]) -> Result<ProviderDealState, CborError> {
    const CONTEXT: &str = "ProviderDealState";
    let mut reader = Reader::new(bytes);
    let entries = reader.map(CONTEXT)?;
    let mut deal_proposal = None;
    let mut store_id = 0;
    let mut channel_id = None;
    let mut piece_info = None;
    let mut status = DealStatus::New;
    let mut receiver = PeerId::default();
    let mut funds_received = TokenAmount::zero();
    let mut message = String::new();
    for _ in 0..entries {
        let key = reader.text("ProviderDealState key")?;
        match key {
            b"Status" => {
                let code = reader.uint("ProviderDealState.Status")?;
                status = DealStatus::from_code(code).ok_or(CborError::UnknownStatus {
                    context: "ProviderDealState.Status",
                    code,
                })?;
            }
            b"Message" => {
                let text = reader.text("ProviderDealState.Message")?;
                message = String::from_utf8(text.to_vec()).map_err(|_| CborError::InvalidUtf8 {
                    context: "ProviderDealState.Message",
                })?;
            }
            b"StoreID" => store_id = reader.uint("ProviderDealState.StoreID")?,
            b"Receiver" => receiver = PeerId(reader.text("ProviderDealState.Receiver")?.to_vec()),
            b"ChannelID" => {
                channel_id = if reader.take_null() {
                    None
                } else {
                    Some(read_channel_id(&mut reader)?)
                };
            }
            b"PieceInfo" => {
                piece_info = if reader.take_null() {
                    None
                } else {
                    Some(PieceInfo::from_go_cbor(
                        reader.item("ProviderDealState.PieceInfo")?,
                    )?)
                };
            }
            b"DealProposal" => {
                let item = reader.item("ProviderDealState.DealProposal")?;
                deal_proposal = Some(DealProposal::from_go_cbor(item)?);
            }
            b"FundsReceived" => {
                let context = "ProviderDealState.FundsReceived";
                funds_received = TokenAmount::from_sign_bytes(reader.bytes(context)?)
                    .map_err(|source| CborError::BigInt { context, source })?;
            }
            _ => {
                reader.item("ProviderDealState unknown key")?;
            }
        }
    }
    reader.finish()?;
    Ok(ProviderDealState {
        deal_proposal: deal_proposal.ok_or(CborError::MissingKey {
            context: CONTEXT,
            key: "DealProposal",
        })?,
        store_id,
        channel_id,
        piece_info,
        status,
        receiver,
        funds_received,
        message,
    })
}

impl GoCbor for ProviderDealState {
    fn to_go_cbor(&self) -> Result<Vec<u8>, CborError> {
        encode_state(self)
    }

    fn from_go_cbor(bytes: &[u8]) -> Result<Self, CborError> {
        decode_state(bytes)
    }
}

/// The state-group codec for [`ProviderDealState`]: records are stored in Go's exact bytes
/// ([`encode_state`] / [`decode_state`]) instead of the group's default serde DAG-CBOR, so a
/// store can be read by (or migrated from) the Go provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderDealStateCodec;

impl Codec<ProviderDealState> for ProviderDealStateCodec {
    fn name(&self) -> &str {
        "go-fil-markets/retrievalmarket.ProviderDealState/cbor-gen"
    }

    fn encode(&self, value: &ProviderDealState, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let bytes = encode_state(value).map_err(|e| CodecError::Encode(e.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<ProviderDealState, CodecError> {
        decode_state(bytes).map_err(|e| CodecError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::PROVIDER_DEAL_STATE_KEYS;

    #[test]
    fn keys_are_in_rfc7049_canonical_order() {
        for pair in PROVIDER_DEAL_STATE_KEYS.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(
                (a.len(), a.as_bytes()) < (b.len(), b.as_bytes()),
                "{a} must sort before {b}"
            );
        }
    }
}
