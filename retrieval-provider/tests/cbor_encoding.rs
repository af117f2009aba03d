//! Go's exact CBOR bytes: the worked encodings, and the key order and map header
//! of every record type.
#![allow(clippy::unwrap_used)]

use cid::Cid;
use cid::multihash::Multihash;
use retrieval_provider::{
    Address, ChannelId, DealId, DealInfo, DealPayment, DealProposal, DealResponse, DealStatus,
    Params, PeerId, PieceInfo, ProviderDealState, RawCbor, TokenAmount, encode_state, from_cbor,
    to_cbor,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cid(seed: u8) -> Cid {
    Cid::new_v1(0x71, Multihash::wrap(0x12, &[seed; 32]).unwrap())
}

/// Reads a definite-length header (test helper; the inputs are our own encodings).
fn header(bytes: &[u8], pos: &mut usize) -> (u8, u64) {
    let first = bytes[*pos];
    *pos += 1;
    let info = first & 0x1f;
    let n = match info {
        0..=23 => return (first >> 5, u64::from(info)),
        24 => 1,
        25 => 2,
        26 => 4,
        _ => 8,
    };
    let value = bytes[*pos..*pos + n]
        .iter()
        .fold(0u64, |a, &b| (a << 8) | u64::from(b));
    *pos += n;
    (first >> 5, value)
}

/// Skips one item (test helper).
fn skip(bytes: &[u8], pos: &mut usize) {
    let (major, value) = header(bytes, pos);
    match major {
        2 | 3 => *pos += value as usize,
        4 => (0..value).for_each(|_| skip(bytes, pos)),
        5 => (0..value * 2).for_each(|_| skip(bytes, pos)),
        6 => skip(bytes, pos),
        _ => {}
    }
}

/// The map header byte and the keys, in the order they were written.
fn map_keys(bytes: &[u8]) -> (u8, Vec<String>) {
    let mut pos = 0;
    let (major, len) = header(bytes, &mut pos);
    assert_eq!(major, 5, "not a map");
    let mut keys = Vec::new();
    for _ in 0..len {
        let (major, klen) = header(bytes, &mut pos);
        assert_eq!(major, 3, "key is not text");
        keys.push(String::from_utf8(bytes[pos..pos + klen as usize].to_vec()).unwrap());
        pos += klen as usize;
        skip(bytes, &mut pos);
    }
    assert_eq!(pos, bytes.len());
    (bytes[0], keys)
}

fn full_params() -> Params {
    Params {
        selector: Some(RawCbor::new(vec![0xa0]).unwrap()),
        piece_cid: Some(cid(2)),
        price_per_byte: TokenAmount::from(500),
        payment_interval: 1000,
        payment_interval_increase: 500,
        unseal_price: TokenAmount::from(500_000),
    }
}

fn proposal() -> DealProposal {
    DealProposal {
        payload_cid: cid(1),
        id: DealId(10),
        params: full_params(),
    }
}

fn piece_info() -> PieceInfo {
    PieceInfo {
        piece_cid: cid(3),
        deals: vec![DealInfo {
            deal_id: 1,
            sector_id: 2,
            offset: 3,
            length: 4,
        }],
    }
}

fn state() -> ProviderDealState {
    ProviderDealState {
        deal_proposal: proposal(),
        store_id: 7,
        channel_id: Some(ChannelId::new("initiator", "", 1)),
        piece_info: Some(piece_info()),
        status: DealStatus::Ongoing,
        receiver: PeerId(vec![0x00, 0x24, 0x08, 0xff, 0xfe]),
        funds_received: TokenAmount::from(1_000_000),
        message: "hello".into(),
    }
}

const DEAL_RESPONSE_10_15: &str =
    "a4 62 49 44 0a 66 53 74 61 74 75 73 0f 67 4d 65 73 73 61 67 65 60
     6b 50 61 79 6d 65 6e 74 4f 77 65 64 40";

#[test]
fn deal_response_worked_encoding() {
    let response = DealResponse {
        status: DealStatus::Completed,
        id: DealId(10),
        payment_owed: TokenAmount::zero(),
        message: String::new(),
    };
    let bytes = to_cbor(&response).unwrap();
    assert_eq!(bytes, hex(DEAL_RESPONSE_10_15));
    assert_eq!(from_cbor::<DealResponse>(&bytes).unwrap(), response);
}

#[test]
fn deal_response_with_payment_owed_worked_encoding() {
    let response = DealResponse {
        status: DealStatus::FundsNeededUnseal,
        id: DealId(10),
        payment_owed: TokenAmount::from(250_000),
        message: String::new(),
    };
    let expected = hex(
        "a4 62 49 44 0a 66 53 74 61 74 75 73 07 67 4d 65 73 73 61 67 65 60
         6b 50 61 79 6d 65 6e 74 4f 77 65 64 44 00 03 d0 90",
    );
    let bytes = to_cbor(&response).unwrap();
    assert_eq!(bytes, expected);
    assert_eq!(from_cbor::<DealResponse>(&bytes).unwrap(), response);
}

#[test]
fn channel_id_worked_encoding() {
    let chid = ChannelId::new("initiator", "", 1);
    let bytes = to_cbor(&chid).unwrap();
    assert_eq!(bytes, hex("83 69 69 6e 69 74 69 61 74 6f 72 60 01"));
    assert_eq!(from_cbor::<ChannelId>(&bytes).unwrap(), chid);
}

#[test]
fn big_int_worked_encodings() {
    for (value, expected) in [
        (0i64, "40"),
        (500_000, "44 00 07 a1 20"),
        (1_000_000, "44 00 0f 42 40"),
        (-1, "42 01 01"),
    ] {
        let amount = TokenAmount::from(value);
        let bytes = to_cbor(&amount).unwrap();
        assert_eq!(bytes, hex(expected), "{value}");
        // The serde path writes the same bytes.
        assert_eq!(serde_ipld_dagcbor::to_vec(&amount).unwrap(), bytes);
        assert_eq!(from_cbor::<TokenAmount>(&bytes).unwrap(), amount);
    }
}

#[test]
fn peer_ids_are_raw_bytes_in_text_headers() {
    let chid = ChannelId::new(PeerId(vec![0xff, 0x00]), PeerId(vec![0x80]), 300);
    let bytes = to_cbor(&chid).unwrap();
    assert_eq!(bytes, hex("83 62 ff 00 61 80 19 01 2c"));
    assert_eq!(from_cbor::<ChannelId>(&bytes).unwrap(), chid);
}

#[test]
fn provider_deal_state_key_order_and_header() {
    let (header, keys) = map_keys(&encode_state(&state()).unwrap());
    assert_eq!(header, 0xa8);
    assert_eq!(
        keys,
        [
            "Status",
            "Message",
            "StoreID",
            "Receiver",
            "ChannelID",
            "PieceInfo",
            "DealProposal",
            "FundsReceived"
        ]
    );
}

#[test]
fn deal_proposal_key_order_and_header() {
    let (header, keys) = map_keys(&to_cbor(&proposal()).unwrap());
    assert_eq!(header, 0xa3);
    assert_eq!(keys, ["ID", "Params", "PayloadCID"]);
}

#[test]
fn params_key_order_and_header() {
    let (header, keys) = map_keys(&to_cbor(&full_params()).unwrap());
    assert_eq!(header, 0xa6);
    assert_eq!(
        keys,
        [
            "PieceCID",
            "Selector",
            "UnsealPrice",
            "PricePerByte",
            "PaymentInterval",
            "PaymentIntervalIncrease"
        ]
    );
}

#[test]
fn deal_response_key_order_and_header() {
    let (header, keys) = map_keys(&hex(DEAL_RESPONSE_10_15));
    assert_eq!(header, 0xa4);
    assert_eq!(keys, ["ID", "Status", "Message", "PaymentOwed"]);
}

#[test]
fn deal_payment_key_order_and_header() {
    let payment = DealPayment {
        id: DealId(3),
        payment_channel: Address(vec![0x01, 0x02]),
        payment_voucher: Some(RawCbor::new(hex("8b 40 00 00 40 f6 00 00 40 00 80 f6")).unwrap()),
    };
    let bytes = to_cbor(&payment).unwrap();
    let (header, keys) = map_keys(&bytes);
    assert_eq!(header, 0xa3);
    assert_eq!(keys, ["ID", "PaymentChannel", "PaymentVoucher"]);
    assert_eq!(from_cbor::<DealPayment>(&bytes).unwrap(), payment);
}

#[test]
fn piece_info_and_deal_info_key_order_and_header() {
    let (header, keys) = map_keys(&to_cbor(&piece_info()).unwrap());
    assert_eq!(header, 0xa2);
    assert_eq!(keys, ["Deals", "PieceCID"]);
    let (header, keys) = map_keys(&to_cbor(&piece_info().deals[0]).unwrap());
    assert_eq!(header, 0xa4);
    assert_eq!(keys, ["DealID", "Length", "Offset", "SectorID"]);
}

#[test]
fn provider_deal_state_exact_bytes() {
    let state = ProviderDealState {
        deal_proposal: DealProposal {
            payload_cid: cid(1),
            id: DealId(10),
            params: Params::new_v0(TokenAmount::from(500), 1000, 500),
        },
        store_id: 0,
        channel_id: None,
        piece_info: None,
        status: DealStatus::Ongoing,
        receiver: PeerId(vec![0xff]),
        funds_received: TokenAmount::zero(),
        message: String::new(),
    };
    let mut cid_bytes = vec![0xd8, 0x2a, 0x58, 0x25, 0x00];
    cid_bytes.extend(cid(1).to_bytes());
    assert_eq!(cid(1).to_bytes().len(), 0x24);
    let mut expected = hex("a8
         66 53 74 61 74 75 73 0d
         67 4d 65 73 73 61 67 65 60
         67 53 74 6f 72 65 49 44 00
         68 52 65 63 65 69 76 65 72 61 ff
         69 43 68 61 6e 6e 65 6c 49 44 f6
         69 50 69 65 63 65 49 6e 66 6f f6
         6c 44 65 61 6c 50 72 6f 70 6f 73 61 6c a3
            62 49 44 0a
            66 50 61 72 61 6d 73 a6
               68 50 69 65 63 65 43 49 44 f6
               68 53 65 6c 65 63 74 6f 72 f6
               6b 55 6e 73 65 61 6c 50 72 69 63 65 40
               6c 50 72 69 63 65 50 65 72 42 79 74 65 43 00 01 f4
               6f 50 61 79 6d 65 6e 74 49 6e 74 65 72 76 61 6c 19 03 e8
               77 50 61 79 6d 65 6e 74 49 6e 74 65 72 76 61 6c 49 6e 63 72 65 61 73 65 19 01 f4
            6a 50 61 79 6c 6f 61 64 43 49 44");
    expected.extend(cid_bytes);
    expected.extend(hex("6d 46 75 6e 64 73 52 65 63 65 69 76 65 64 40"));
    assert_eq!(encode_state(&state).unwrap(), expected);
}

#[test]
fn absent_pointers_are_null() {
    let mut state = state();
    state.channel_id = None;
    state.piece_info = None;
    state.deal_proposal.params.selector = None;
    state.deal_proposal.params.piece_cid = None;
    let bytes = encode_state(&state).unwrap();
    let needle = |key: &str| {
        let mut k = vec![0x60 + key.len() as u8];
        k.extend(key.as_bytes());
        k.push(0xf6);
        bytes.windows(k.len()).any(|w| w == k.as_slice())
    };
    for key in ["ChannelID", "PieceInfo", "Selector", "PieceCID"] {
        assert!(needle(key), "{key} is not null");
    }
}

#[test]
fn state_group_codec_uses_gos_bytes() {
    use fsm_runtime::codec::{Codec, CodecError};
    use retrieval_provider::{ProviderDealStateCodec, decode_state};

    let mut out = vec![0xaa];
    ProviderDealStateCodec.encode(&state(), &mut out).unwrap();
    assert_eq!(out[0], 0xaa, "encode appends");
    assert_eq!(&out[1..], encode_state(&state()).unwrap().as_slice());
    assert_eq!(ProviderDealStateCodec.decode(&out[1..]).unwrap(), state());
    assert_eq!(decode_state(&out[1..]).unwrap(), state());
    assert!(matches!(
        ProviderDealStateCodec.decode(&out[..10]),
        Err(CodecError::Decode(_))
    ));
}
