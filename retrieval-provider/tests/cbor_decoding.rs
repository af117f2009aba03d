//! Decoding Go's records: any key order, unknown (legacy v1) and missing keys, and typed
//! errors, never panics, on bad input.
#![allow(clippy::unwrap_used)]

use cid::Cid;
use cid::multihash::Multihash;
use proptest::prelude::*;
use retrieval_provider::cbor::MAX_STRING_LEN;
use retrieval_provider::{
    BigIntError, CborError, ChannelId, DealId, DealProposal, DealResponse, DealStatus, Params,
    PeerId, ProviderDealState, TokenAmount, decode_state, encode_state, from_cbor, to_cbor,
};

fn cid() -> Cid {
    Cid::new_v1(0x71, Multihash::wrap(0x12, &[9; 32]).unwrap())
}

/// Test-side CBOR writer, to build records the way other encoders (or Go v1) would.
fn head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    match value {
        0..=23 => out.push(m | value as u8),
        24..=0xff => out.extend([m | 24, value as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((value as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(value.to_be_bytes());
        }
    }
}

fn text(out: &mut Vec<u8>, s: &[u8]) {
    head(out, 3, s.len() as u64);
    out.extend(s);
}

fn proposal() -> DealProposal {
    DealProposal {
        payload_cid: cid(),
        id: DealId(10),
        params: Params::new_v0(TokenAmount::from(500), 1000, 500),
    }
}

/// A map from (key, encoded value) entries, in the order given.
fn map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    head(&mut out, 5, entries.len() as u64);
    for (key, value) in entries {
        text(&mut out, key.as_bytes());
        out.extend(value);
    }
    out
}

fn uint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    head(&mut out, 0, v);
    out
}

fn text_value(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    text(&mut out, s);
    out
}

fn bytes_value(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    head(&mut out, 2, b.len() as u64);
    out.extend(b);
    out
}

fn channel_id_value() -> Vec<u8> {
    to_cbor(&ChannelId::new(PeerId(vec![0xfa, 0x01]), "provider", 4)).unwrap()
}

/// A legacy v1 record (`maptypes.ProviderDealState1`): 11 keys, a non-pointer ChannelID,
/// and TotalSent, CurrentInterval, LegacyProtocol.
fn legacy_v1_record() -> Vec<u8> {
    map(&[
        ("Status", uint(15)),
        ("Message", text_value(b"done")),
        ("StoreID", uint(3)),
        ("Receiver", text_value(&[0x00, 0xfe, 0xff])),
        ("ChannelID", channel_id_value()),
        ("PieceInfo", vec![0xf6]),
        ("TotalSent", uint(19_000)),
        ("DealProposal", to_cbor(&proposal()).unwrap()),
        ("FundsReceived", bytes_value(&[0x00, 0x0f, 0x42, 0x40])),
        ("LegacyProtocol", vec![0xf5]),
        ("CurrentInterval", uint(10_000)),
    ])
}

#[test]
fn legacy_v1_record_decodes() {
    let state = decode_state(&legacy_v1_record()).unwrap();
    assert_eq!(state.status, DealStatus::Completed);
    assert_eq!(state.message, "done");
    assert_eq!(state.store_id, 3);
    assert_eq!(state.receiver, PeerId(vec![0x00, 0xfe, 0xff]));
    assert_eq!(
        state.channel_id,
        Some(ChannelId::new(PeerId(vec![0xfa, 0x01]), "provider", 4))
    );
    assert_eq!(state.piece_info, None);
    assert_eq!(state.deal_proposal, proposal());
    assert_eq!(state.funds_received, TokenAmount::from(1_000_000));
}

#[test]
fn key_order_does_not_matter() {
    let original = ProviderDealState {
        channel_id: Some(ChannelId::new("a", "b", 1)),
        message: "m".into(),
        ..ProviderDealState::new(proposal(), PeerId(vec![1, 2, 3]))
    };
    let reversed = map(&[
        ("FundsReceived", bytes_value(&[])),
        ("DealProposal", to_cbor(&proposal()).unwrap()),
        ("PieceInfo", vec![0xf6]),
        ("ChannelID", to_cbor(&ChannelId::new("a", "b", 1)).unwrap()),
        ("Receiver", text_value(&[1, 2, 3])),
        ("StoreID", uint(0)),
        ("Message", text_value(b"m")),
        ("Status", uint(0)),
    ]);
    assert_eq!(decode_state(&reversed).unwrap(), original);
    // Nested records decode in any order too.
    let mut cid_value = vec![0xd8, 0x2a];
    let mut cid_bytes = vec![0x00];
    cid_bytes.extend(cid().to_bytes());
    cid_value.extend(bytes_value(&cid_bytes));
    let proposal_reversed = map(&[("PayloadCID", cid_value), ("ID", uint(10))]);
    let decoded = from_cbor::<DealProposal>(&proposal_reversed).unwrap();
    assert_eq!(decoded.payload_cid, cid());
    assert_eq!(decoded.id, DealId(10));
    assert_eq!(decoded.params, Params::default());
}

#[test]
fn missing_keys_are_zero_values() {
    let only_proposal = map(&[("DealProposal", to_cbor(&proposal()).unwrap())]);
    let state = decode_state(&only_proposal).unwrap();
    assert_eq!(state, ProviderDealState::new(proposal(), PeerId::default()));
    let empty_response = decode_state(&map(&[])).unwrap_err();
    assert_eq!(
        empty_response,
        CborError::MissingKey {
            context: "ProviderDealState",
            key: "DealProposal"
        }
    );
    assert_eq!(
        from_cbor::<DealResponse>(&map(&[])).unwrap(),
        DealResponse::default()
    );
}

#[test]
fn unknown_keys_are_skipped_in_serde_records() {
    let mut bytes = map(&[
        ("ID", uint(10)),
        ("Extra", map(&[("Nested", vec![0x83, 0x01, 0x02, 0x03])])),
        ("Status", uint(15)),
    ]);
    let response = from_cbor::<DealResponse>(&bytes).unwrap();
    assert_eq!(response.id, DealId(10));
    assert_eq!(response.status, DealStatus::Completed);
    bytes.push(0x00);
    assert!(matches!(
        from_cbor::<DealResponse>(&bytes),
        Err(CborError::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let full = legacy_v1_record();
    for len in 0..full.len() {
        let err = decode_state(&full[..len]).unwrap_err();
        assert!(
            matches!(err, CborError::Truncated { .. }),
            "prefix of {len} bytes gave {err:?}"
        );
    }
    let response = to_cbor(&DealResponse::default()).unwrap();
    for len in 0..response.len() {
        assert!(from_cbor::<DealResponse>(&response[..len]).is_err());
    }
}

#[test]
fn wrong_big_int_prefix() {
    let record = map(&[
        ("DealProposal", to_cbor(&proposal()).unwrap()),
        ("FundsReceived", bytes_value(&[0x02, 0x01])),
    ]);
    let err = decode_state(&record).unwrap_err();
    assert_eq!(
        err,
        CborError::BigInt {
            context: "ProviderDealState.FundsReceived",
            source: BigIntError::BadPrefix(2)
        }
    );
    assert!(
        err.to_string()
            .contains("big int prefix should be either 0 or 1, got 2")
    );
    // Through serde (DealResponse.PaymentOwed) the error keeps Go's wording.
    let response = map(&[("PaymentOwed", bytes_value(&[0x07, 0x01]))]);
    let err = from_cbor::<DealResponse>(&response).unwrap_err();
    assert!(
        err.to_string()
            .contains("big int prefix should be either 0 or 1, got 7"),
        "{err}"
    );
}

#[test]
fn big_int_length_limit() {
    let mut at_limit = vec![0x00];
    at_limit.extend([0xff; 127]);
    assert!(TokenAmount::from_sign_bytes(&at_limit).is_ok());
    let mut over = vec![0x00];
    over.extend([0xff; 128]);
    assert_eq!(
        TokenAmount::from_sign_bytes(&over),
        Err(BigIntError::TooLong(129))
    );
    let record = map(&[
        ("DealProposal", to_cbor(&proposal()).unwrap()),
        ("FundsReceived", bytes_value(&over)),
    ]);
    assert!(matches!(
        decode_state(&record),
        Err(CborError::BigInt {
            source: BigIntError::TooLong(129),
            ..
        })
    ));
    // Encoding refuses too, as Go's MarshalCBOR does.
    let huge = TokenAmount::from_sign_bytes(&at_limit).unwrap() * TokenAmount::from(256);
    let state = ProviderDealState {
        funds_received: huge.clone(),
        ..ProviderDealState::new(proposal(), PeerId::default())
    };
    assert!(matches!(
        encode_state(&state),
        Err(CborError::BigInt {
            source: BigIntError::TooLong(129),
            ..
        })
    ));
    assert!(to_cbor(&huge).is_err());
}

#[test]
fn string_length_limit() {
    let long = "x".repeat(MAX_STRING_LEN + 1);
    let record = map(&[
        ("DealProposal", to_cbor(&proposal()).unwrap()),
        ("Message", text_value(long.as_bytes())),
    ]);
    assert_eq!(
        decode_state(&record).unwrap_err(),
        CborError::StringTooLong {
            context: "ProviderDealState.Message",
            len: 8193
        }
    );
    let state = ProviderDealState {
        message: long.clone(),
        ..ProviderDealState::new(proposal(), PeerId::default())
    };
    assert!(matches!(
        encode_state(&state),
        Err(CborError::StringTooLong { len: 8193, .. })
    ));
    let response = DealResponse {
        message: long,
        ..DealResponse::default()
    };
    assert!(to_cbor(&response).is_err());
    let at_limit = "y".repeat(MAX_STRING_LEN);
    let response = DealResponse {
        message: at_limit,
        ..DealResponse::default()
    };
    let bytes = to_cbor(&response).unwrap();
    assert_eq!(from_cbor::<DealResponse>(&bytes).unwrap(), response);
}

/// A predicate on the expected error.
type ErrorCheck = fn(&CborError) -> bool;

#[test]
fn malformed_inputs_give_typed_errors() {
    let proposal_bytes = to_cbor(&proposal()).unwrap();
    let cases: Vec<(Vec<u8>, ErrorCheck)> = vec![
        (vec![0xbf, 0xff], |e| {
            matches!(e, CborError::Indefinite { offset: 0 })
        }),
        (vec![0xb8, 0x01], |e| {
            matches!(e, CborError::NonCanonical { offset: 0 })
        }),
        (vec![0xbc], |e| matches!(e, CborError::Reserved { .. })),
        (vec![0x83, 0x01, 0x02, 0x03], |e| {
            matches!(e, CborError::UnexpectedType { found: 0x83, .. })
        }),
        (
            map(&[
                ("Status", uint(99)),
                ("DealProposal", proposal_bytes.clone()),
            ]),
            |e| matches!(e, CborError::UnknownStatus { code: 99, .. }),
        ),
        (map(&[("Status", text_value(b"7"))]), |e| {
            matches!(e, CborError::UnexpectedType { .. })
        }),
        (map(&[("Message", text_value(&[0xff]))]), |e| {
            matches!(e, CborError::InvalidUtf8 { .. })
        }),
        (map(&[("ChannelID", vec![0x82, 0x60, 0x60])]), |e| {
            matches!(
                e,
                CborError::WrongFieldCount {
                    expected: 3,
                    found: 2,
                    ..
                }
            )
        }),
        (map(&[("DealProposal", map(&[("ID", uint(1))]))]), |e| {
            matches!(
                e,
                CborError::Serde {
                    type_name: "DealProposal",
                    ..
                }
            )
        }),
    ];
    for (bytes, check) in cases {
        let err = decode_state(&bytes).unwrap_err();
        assert!(check(&err), "{bytes:02x?} gave {err:?}");
        assert!(!err.to_string().is_empty());
    }
    let mut trailing = to_cbor(&ChannelId::default()).unwrap();
    trailing.push(0xf6);
    assert!(matches!(
        from_cbor::<ChannelId>(&trailing),
        Err(CborError::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn hostile_lengths_do_not_allocate_or_panic() {
    // A map claiming u64::MAX entries, an array claiming 2^63 items inside an unknown key.
    let mut huge_map = vec![0xbb];
    huge_map.extend(u64::MAX.to_be_bytes());
    assert!(decode_state(&huge_map).is_err());
    let mut bogus = vec![0x9b];
    bogus.extend((1u64 << 63).to_be_bytes());
    let record = map(&[("Unknown", bogus)]);
    assert!(matches!(
        decode_state(&record),
        Err(CborError::Truncated { .. })
    ));
    // Deep nesting is skipped without recursion.
    let mut deep = vec![0x81; 100_000];
    deep.push(0x00);
    let record = map(&[("Unknown", deep)]);
    assert!(matches!(
        decode_state(&record),
        Err(CborError::MissingKey { .. })
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_state(&bytes);
        let _ = from_cbor::<DealResponse>(&bytes);
        let _ = from_cbor::<DealProposal>(&bytes);
        let _ = from_cbor::<ChannelId>(&bytes);
    }

    #[test]
    fn corrupted_records_never_panic(index in 0usize..200, byte: u8) {
        let mut bytes = legacy_v1_record();
        let i = index % bytes.len();
        bytes[i] = byte;
        let _ = decode_state(&bytes);
    }
}
