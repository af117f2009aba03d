//! The record types' small behaviours: displays, constructors, Go's `SelectorSpecified` and
//! `ValidationResult.Equals`.
#![allow(clippy::unwrap_used)]

use cid::Cid;
use cid::multihash::Multihash;
use retrieval_provider::transfer::ChannelState;
use retrieval_provider::{
    ChannelId, DealId, DealProposal, DealResponse, DealStatus, DtStatus, Params, PeerId,
    ProviderDealIdentifier, ProviderDealState, ProviderError, RawCbor, SelectorRequired,
    TokenAmount, ValidationResult,
};

fn cid() -> Cid {
    Cid::new_v1(0x55, Multihash::wrap(0x12, &[1; 32]).unwrap())
}

#[test]
fn deal_id_and_identifier_display() {
    assert_eq!(DealId(10).to_string(), "10");
    let receiver = PeerId(vec![0x00, 0x01, 0xff]);
    let identifier = ProviderDealIdentifier {
        receiver: receiver.clone(),
        deal_id: DealId(42),
    };
    assert_eq!(identifier.to_string(), "19p/42");
    assert_eq!(PeerId::from_base58("19p").unwrap(), receiver);
    // A real (CIDv0-style) peer id: 0x12 0x20 + a sha2-256 digest.
    let real = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    let peer = PeerId::from_base58(real).unwrap();
    assert_eq!(&peer.as_bytes()[..2], &[0x12, 0x20]);
    assert_eq!(peer.to_string(), real);
    let state = ProviderDealState::new(
        DealProposal {
            payload_cid: cid(),
            id: DealId(42),
            params: Params::default(),
        },
        receiver,
    );
    assert_eq!(state.identifier(), identifier);
    assert_eq!(state.id(), DealId(42));
    assert_eq!(state.status, DealStatus::New);
    assert!(state.funds_received.is_zero());
}

#[test]
fn channel_id_display() {
    let chid = ChannelId::new(PeerId(vec![0x00, 0x01, 0xff]), PeerId(vec![0x02]), 7);
    assert_eq!(chid.to_string(), "19p-3-7");
    assert_eq!(ChannelId::new("", "", 0).to_string(), "--0");
}

#[test]
fn params_constructors() {
    let v0 = Params::new_v0(TokenAmount::from(500), 1000, 500);
    assert_eq!(v0.selector, None);
    assert_eq!(v0.piece_cid, None);
    assert!(v0.unseal_price.is_zero());
    assert!(!v0.selector_specified());

    let err =
        Params::new_v1(TokenAmount::from(1), 1, 1, None, None, TokenAmount::zero()).unwrap_err();
    assert_eq!(err, SelectorRequired);
    assert_eq!(err.to_string(), "selector required for NewParamsV1");

    let selector = RawCbor::new(vec![0xa1, 0x61, 0x61, 0xa0]).unwrap();
    let v1 = Params::new_v1(
        TokenAmount::from(1),
        1,
        1,
        Some(selector.clone()),
        Some(cid()),
        TokenAmount::from(5),
    )
    .unwrap();
    assert_eq!(v1.selector, Some(selector));
    assert!(v1.selector_specified());
    // An IPLD Null node is a selector Go does not count as specified.
    let null = Params::new_v1(
        TokenAmount::from(1),
        1,
        1,
        Some(RawCbor::new(vec![0xf6]).unwrap()),
        None,
        TokenAmount::zero(),
    )
    .unwrap();
    assert!(!null.selector_specified());
}

#[test]
fn raw_cbor_must_be_one_item() {
    assert!(RawCbor::new(vec![]).is_err());
    assert!(RawCbor::new(vec![0x01, 0x02]).is_err());
    assert!(RawCbor::new(vec![0x82, 0x01]).is_err());
    assert!(RawCbor::new(vec![0x82, 0x01, 0x02]).is_ok());
}

#[test]
fn validation_result_equality_is_gos_equals() {
    let response = DealResponse {
        status: DealStatus::FundsNeeded,
        id: DealId(10),
        payment_owed: TokenAmount::from(250_000),
        message: String::new(),
    };
    let vr = ValidationResult {
        accepted: true,
        voucher_result: Some(response.clone()),
        force_pause: false,
        data_limit: 1000,
        requires_finalization: true,
    };
    assert_eq!(vr.clone(), vr);
    assert_eq!(vr.voucher_result_type(), Some("RetrievalDealResponse/1"));
    let mut other = vr.clone();
    other.voucher_result = None;
    assert_ne!(other, vr, "nil-ness of the voucher result counts");
    let mut other = vr.clone();
    other.voucher_result = Some(DealResponse {
        payment_owed: TokenAmount::from(1),
        ..response
    });
    assert_ne!(other, vr, "voucher content counts");
    let mut other = vr.clone();
    other.data_limit = 2500;
    assert_ne!(other, vr);
    assert_eq!(ValidationResult::default().voucher_result_type(), None);
}

#[test]
fn dt_status_finalization() {
    let in_finalization: Vec<_> = DtStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.in_finalization())
        .collect();
    assert_eq!(
        in_finalization,
        [
            DtStatus::Finalizing,
            DtStatus::Completing,
            DtStatus::Completed
        ]
    );
    assert_eq!(DtStatus::ResponderPaused.code(), 12);
    assert_eq!(DtStatus::Ongoing.code(), 1);
    assert_eq!(DtStatus::default(), DtStatus::Requested);
}

#[test]
fn channel_state_other_peer() {
    let provider = PeerId::from("provider");
    let client = PeerId::from("client");
    let state = ChannelState {
        channel_id: ChannelId::new(client.clone(), provider.clone(), 1),
        status: DtStatus::Ongoing,
        queued: 0,
        voucher: None,
        last_voucher: None,
        sender: provider.clone(),
        recipient: client.clone(),
        self_peer: provider,
    };
    assert_eq!(state.other_peer(), &client);
}

#[test]
fn provider_error_keeps_the_message() {
    let err = ProviderError::new("something went wrong");
    assert_eq!(err.to_string(), "something went wrong");
    assert_eq!(err.message(), "something went wrong");
    assert_eq!(ProviderError::from("x"), ProviderError::new("x"));
    let io = std::io::Error::other("disk");
    assert_eq!(ProviderError::from_error(&io).message(), "disk");
}

#[test]
fn token_amount_arithmetic() {
    let a = TokenAmount::from(500_000);
    let b = TokenAmount::from(250_000);
    assert_eq!(&a + &b, TokenAmount::from(750_000));
    assert_eq!(&b - &a, TokenAmount::from(-250_000));
    let mut c = a.clone();
    c += &b;
    assert_eq!(c, TokenAmount::from(750_000));
    assert_eq!(
        TokenAmount::from(-7).div_euclid(&TokenAmount::from(2)),
        Some(TokenAmount::from(-4))
    );
    assert_eq!(a.div_euclid(&TokenAmount::zero()), None);
    assert_eq!(
        "123".parse::<TokenAmount>().unwrap(),
        TokenAmount::from(123)
    );
    assert_eq!(TokenAmount::default(), TokenAmount::zero());
}
