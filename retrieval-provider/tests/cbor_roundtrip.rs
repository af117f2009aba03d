//! Property tests: full `ProviderDealState` values (and the voucher types) survive Go's CBOR
//! layout, and re-encoding decoded bytes gives the same bytes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cid::Cid;
use cid::multihash::Multihash;
use ipld_core::ipld::Ipld;
use proptest::prelude::*;
use retrieval_provider::{
    Address, ChannelId, DealId, DealInfo, DealPayment, DealProposal, DealResponse, DealStatus,
    Params, PeerId, PieceInfo, ProviderDealState, RawCbor, TokenAmount, decode_state, encode_state,
    from_cbor, to_cbor,
};

fn arb_cid() -> impl Strategy<Value = Cid> {
    (prop_oneof![Just(0x55u64), Just(0x71u64)], any::<[u8; 32]>())
        .prop_map(|(codec, digest)| Cid::new_v1(codec, Multihash::wrap(0x12, &digest).unwrap()))
}

fn arb_amount() -> impl Strategy<Value = TokenAmount> {
    prop_oneof![
        Just(TokenAmount::zero()),
        any::<i64>().prop_map(TokenAmount::from),
        any::<i128>().prop_map(TokenAmount::from),
    ]
}

fn arb_peer() -> impl Strategy<Value = PeerId> {
    proptest::collection::vec(any::<u8>(), 0..48).prop_map(PeerId)
}

/// The explore-all selector Go uses when none is given.
fn explore_all() -> Ipld {
    let map = |entries: Vec<(&str, Ipld)>| {
        Ipld::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    map(vec![(
        "R",
        map(vec![
            ("l", map(vec![("none", map(vec![]))])),
            (
                ":>",
                map(vec![("a", map(vec![(">", map(vec![("@", map(vec![]))]))]))]),
            ),
        ]),
    )])
}

fn arb_selector() -> impl Strategy<Value = Option<RawCbor>> {
    prop_oneof![
        Just(None),
        Just(Some(RawCbor::from_ipld(&explore_all()).unwrap())),
        (any::<i64>(), ".{0,8}").prop_map(|(n, s)| Some(
            RawCbor::from_ipld(&Ipld::List(vec![Ipld::Integer(n.into()), Ipld::String(s)]))
                .unwrap()
        )),
    ]
}

fn arb_params() -> impl Strategy<Value = Params> {
    (
        arb_selector(),
        proptest::option::of(arb_cid()),
        arb_amount(),
        any::<u64>(),
        any::<u64>(),
        arb_amount(),
    )
        .prop_map(
            |(selector, piece_cid, price_per_byte, interval, increase, unseal_price)| Params {
                selector,
                piece_cid,
                price_per_byte,
                payment_interval: interval,
                payment_interval_increase: increase,
                unseal_price,
            },
        )
}

fn arb_proposal() -> impl Strategy<Value = DealProposal> {
    (arb_cid(), any::<u64>(), arb_params()).prop_map(|(payload_cid, id, params)| DealProposal {
        payload_cid,
        id: DealId(id),
        params,
    })
}

fn arb_piece_info() -> impl Strategy<Value = PieceInfo> {
    (
        arb_cid(),
        proptest::collection::vec(any::<(u64, u64, u64, u64)>(), 0..4),
    )
        .prop_map(|(piece_cid, deals)| PieceInfo {
            piece_cid,
            deals: deals
                .into_iter()
                .map(|(deal_id, sector_id, offset, length)| DealInfo {
                    deal_id,
                    sector_id,
                    offset,
                    length,
                })
                .collect(),
        })
}

fn arb_status() -> impl Strategy<Value = DealStatus> {
    proptest::sample::select(DealStatus::ALL)
}

fn arb_state() -> impl Strategy<Value = ProviderDealState> {
    (
        arb_proposal(),
        any::<u64>(),
        proptest::option::of(
            (arb_peer(), arb_peer(), any::<u64>()).prop_map(|(i, r, id)| ChannelId::new(i, r, id)),
        ),
        proptest::option::of(arb_piece_info()),
        arb_status(),
        arb_peer(),
        arb_amount(),
        ".{0,40}",
    )
        .prop_map(
            |(
                deal_proposal,
                store_id,
                channel_id,
                piece_info,
                status,
                receiver,
                funds_received,
                message,
            )| ProviderDealState {
                deal_proposal,
                store_id,
                channel_id,
                piece_info,
                status,
                receiver,
                funds_received,
                message,
            },
        )
}

proptest! {
    #[test]
    fn provider_deal_state_round_trips(state in arb_state()) {
        let bytes = encode_state(&state).unwrap();
        let decoded = decode_state(&bytes).unwrap();
        prop_assert_eq!(&decoded, &state);
        prop_assert_eq!(encode_state(&decoded).unwrap(), bytes);
    }

    #[test]
    fn serde_form_round_trips(state in arb_state()) {
        // The serde form (peer ids as byte strings) through serde_ipld_dagcbor.
        let bytes = serde_ipld_dagcbor::to_vec(&state).unwrap();
        let decoded: ProviderDealState = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
        prop_assert_eq!(decoded, state);
    }

    #[test]
    fn vouchers_round_trip(
        proposal in arb_proposal(),
        status in arb_status(),
        id: u64,
        owed in arb_amount(),
        message in ".{0,40}",
        address in proptest::collection::vec(any::<u8>(), 0..24),
    ) {
        let bytes = to_cbor(&proposal).unwrap();
        prop_assert_eq!(from_cbor::<DealProposal>(&bytes).unwrap(), proposal);

        let response = DealResponse { status, id: DealId(id), payment_owed: owed, message };
        let bytes = to_cbor(&response).unwrap();
        prop_assert_eq!(from_cbor::<DealResponse>(&bytes).unwrap(), response);

        let payment = DealPayment {
            id: DealId(id),
            payment_channel: Address(address),
            payment_voucher: None,
        };
        let bytes = to_cbor(&payment).unwrap();
        prop_assert_eq!(from_cbor::<DealPayment>(&bytes).unwrap(), payment);
    }

    #[test]
    fn token_amounts_round_trip(amount in arb_amount()) {
        let bytes = amount.to_sign_bytes().unwrap();
        prop_assert_eq!(TokenAmount::from_sign_bytes(&bytes).unwrap(), amount);
    }
}
