//! The deal plan: what every simulated deal is and what its client will do, derived from a
//! seed alone so that an interrupted run can be resumed with the very same deals.
//!
//! Deal `i` is drawn from its own generator, seeded with `(seed, i)`, so any deal's plan can be
//! computed on its own and in any order. The generator is a local SplitMix64 rather than a
//! crate's RNG: its output is fixed here forever, so a data directory written by one build
//! resumes identically under another.

use cid::Cid;
use cid::multihash::Multihash;
use retrieval_provider::{
    Address, ChannelId, DealId, DealProposal, DealStatus, Params, PeerId, PieceInfo, TokenAmount,
};

use super::config::FaultMix;

/// The multicodec of raw bytes, used for the simulated payload and piece CIDs.
const RAW_CODEC: u64 = 0x55;
/// The identity multihash code: the simulated CIDs simply embed their bytes.
const IDENTITY_HASH: u64 = 0x00;

/// A SplitMix64 generator (Steele, Lea and Flood, 2014): small, fast and fixed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator for deal `index` of a run seeded with `seed`.
    pub fn for_deal(seed: u64, index: u64) -> Self {
        let mut mixer = SplitMix64(seed);
        let base = mixer.next_u64();
        SplitMix64(base ^ index.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits scaled into [0, 1): exact in an f64.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `lo..=hi` (`lo` when `hi <= lo`). The modulo bias is below
    /// 2⁻⁴⁰ for the ranges used here, which is irrelevant for a simulation.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        match span.checked_add(1) {
            Some(width) => lo + self.next_u64() % width,
            None => self.next_u64(),
        }
    }
}

/// How a deal is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealKind {
    /// Price per byte and unseal price 0: no payments at all (data limit 0, unlimited).
    Free,
    /// A price per byte, no unseal fee: paid interval by interval.
    Paid,
    /// A price per byte and an unseal fee paid before unsealing starts.
    PaidUnseal,
}

/// When, in the transfer, a client-side fault happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultPoint {
    /// The fault happens at the first stop of the transfer (a data-limit or the end of the
    /// data) at or past this many bytes.
    pub at_bytes: u64,
    /// Whether it happens after the stop's payment request (the client walks away owing
    /// money) rather than instead of it.
    pub while_owing: bool,
}

/// What goes wrong in a deal, if anything: the paths a provider deal can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Nothing: the deal completes.
    None,
    /// Preparing the blockstore fails: `UnsealError`, `Failing`, `CancelDeal`, `Errored`.
    UnsealFailure,
    /// The client cancels the transfer: `ClientCancelled`, `Cancelling`, `Cancelled`.
    ClientCancel(FaultPoint),
    /// The transfer fails (an error, or the peer hanging up): `DataTransferError`, `Errored`.
    TransferError {
        /// Where it fails.
        point: FaultPoint,
        /// A `Disconnected` event rather than an `Error` event.
        disconnect: bool,
    },
}

impl Fault {
    /// The short name used in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::UnsealFailure => "unseal failure",
            Fault::ClientCancel(_) => "client cancel",
            Fault::TransferError { .. } => "transfer error",
        }
    }

    /// Where a client-side fault happens (none for `None` and `UnsealFailure`).
    pub fn point(self) -> Option<FaultPoint> {
        match self {
            Fault::ClientCancel(point) | Fault::TransferError { point, .. } => Some(point),
            Fault::None | Fault::UnsealFailure => None,
        }
    }
}

/// One planned deal: its terms, its size and what goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealPlan {
    /// The deal's position in the run, `0..deals`.
    pub index: u64,
    /// How it is priced.
    pub kind: DealKind,
    /// The proposal's terms.
    pub params: Params,
    /// Bytes the client retrieves.
    pub size: u64,
    /// What goes wrong.
    pub fault: Fault,
}

/// Payload sizes, in bytes.
const SIZE_RANGE: (u64, u64) = (4 << 10, 1 << 20);
/// Payment intervals, in bytes.
const INTERVAL_RANGE: (u64, u64) = (64 << 10, 256 << 10);
/// Payment-interval increases, in bytes.
const INCREASE_RANGE: (u64, u64) = (0, 64 << 10);
/// Prices per byte, in attoFIL.
const PRICE_RANGE: (u64, u64) = (1, 10);
/// Unseal prices, in attoFIL.
const UNSEAL_RANGE: (u64, u64) = (1_000, 100_000);

impl DealPlan {
    /// Draws deal `index` of a run seeded with `seed` under `mix`.
    pub fn generate(seed: u64, index: u64, mix: &FaultMix) -> DealPlan {
        let mut rng = SplitMix64::for_deal(seed, index);
        let kind_roll = rng.next_f64();
        let kind = if kind_roll < mix.free {
            DealKind::Free
        } else if kind_roll < mix.free + mix.paid_unseal {
            DealKind::PaidUnseal
        } else {
            DealKind::Paid
        };
        let size = rng.range(SIZE_RANGE.0, SIZE_RANGE.1);
        let interval = rng.range(INTERVAL_RANGE.0, INTERVAL_RANGE.1);
        let increase = rng.range(INCREASE_RANGE.0, INCREASE_RANGE.1);
        let price = match kind {
            DealKind::Free => 0,
            DealKind::Paid | DealKind::PaidUnseal => rng.range(PRICE_RANGE.0, PRICE_RANGE.1),
        };
        let unseal = match kind {
            DealKind::PaidUnseal => rng.range(UNSEAL_RANGE.0, UNSEAL_RANGE.1),
            DealKind::Free | DealKind::Paid => 0,
        };
        let point = FaultPoint {
            at_bytes: rng.range(0, size - 1),
            while_owing: rng.next_f64() < 0.5,
        };
        let disconnect = rng.next_f64() < 0.5;
        let fault_roll = rng.next_f64();
        let fault = if fault_roll < mix.unseal_failure {
            Fault::UnsealFailure
        } else if fault_roll < mix.unseal_failure + mix.client_cancel {
            Fault::ClientCancel(point)
        } else if fault_roll < mix.unseal_failure + mix.client_cancel + mix.transfer_error {
            Fault::TransferError { point, disconnect }
        } else {
            Fault::None
        };
        DealPlan {
            index,
            kind,
            params: Params {
                selector: None,
                piece_cid: None,
                price_per_byte: TokenAmount::from(price),
                payment_interval: interval,
                payment_interval_increase: increase,
                unseal_price: TokenAmount::from(unseal),
            },
            size,
            fault,
        }
    }

    /// The deal id ([`deal_id`] of its index).
    pub fn id(&self) -> DealId {
        deal_id(self.index)
    }

    /// The status the deal must end in.
    pub fn expected_status(&self) -> DealStatus {
        match self.fault {
            Fault::None => DealStatus::Completed,
            Fault::UnsealFailure | Fault::TransferError { .. } => DealStatus::Errored,
            Fault::ClientCancel(_) => DealStatus::Cancelled,
        }
    }

    /// The client's peer id.
    pub fn client(&self) -> PeerId {
        PeerId::from(format!("client-{}", self.index).into_bytes())
    }

    /// The data-transfer channel the client opens (the transfer id is the deal index).
    pub fn channel_id(&self) -> ChannelId {
        ChannelId::new(self.client(), provider_peer(), self.index)
    }

    /// The client's payment channel (a simulated actor address: protocol 2, the index).
    pub fn payment_channel(&self) -> Address {
        let mut bytes = vec![2];
        bytes.extend_from_slice(&self.index.to_be_bytes());
        Address(bytes)
    }

    /// The proposal the client sends.
    pub fn proposal(&self) -> DealProposal {
        DealProposal {
            payload_cid: sim_cid(b'd', self.index),
            id: self.id(),
            params: self.params.clone(),
        }
    }

    /// Where the provider finds the payload.
    pub fn piece(&self) -> PieceInfo {
        PieceInfo {
            piece_cid: sim_cid(b'p', self.index),
            deals: Vec::new(),
        }
    }
}

/// The provider's peer id.
pub fn provider_peer() -> PeerId {
    PeerId::from("provider")
}

/// The id of deal index `index`: `index + 1` (ids start at 1; the group is keyed by them).
pub fn deal_id(index: u64) -> DealId {
    DealId(index + 1)
}

/// The deal index of deal id `id`, if it is one of a run of `deals` deals.
pub fn index_of(id: DealId, deals: u64) -> Option<u64> {
    id.0.checked_sub(1).filter(|index| *index < deals)
}

/// A raw-codec CID whose identity hash embeds `tag` and `index`.
fn sim_cid(tag: u8, index: u64) -> Cid {
    let mut bytes = [0u8; 9];
    bytes[0] = tag;
    bytes[1..].copy_from_slice(&index.to_be_bytes());
    // An identity multihash holds up to 64 bytes; 9 always fit.
    let hash = Multihash::<64>::wrap(IDENTITY_HASH, &bytes)
        .unwrap_or_else(|_| unreachable!("9 bytes fit an identity multihash"));
    Cid::new_v1(RAW_CODEC, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> FaultMix {
        FaultMix {
            unseal_failure: 0.1,
            client_cancel: 0.1,
            transfer_error: 0.1,
            paid_unseal: 0.3,
            free: 0.2,
        }
    }

    #[test]
    fn plans_are_reproducible_and_independent_of_order() {
        let forward: Vec<_> = (0..50).map(|i| DealPlan::generate(7, i, &mix())).collect();
        let backward: Vec<_> = (0..50)
            .rev()
            .map(|i| DealPlan::generate(7, i, &mix()))
            .collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert_ne!(
            DealPlan::generate(7, 3, &mix()),
            DealPlan::generate(8, 3, &mix())
        );
    }

    #[test]
    fn plans_follow_the_kind() {
        for i in 0..500 {
            let plan = DealPlan::generate(1, i, &mix());
            assert!(plan.size >= SIZE_RANGE.0 && plan.size <= SIZE_RANGE.1);
            if let Some(point) = plan.fault.point() {
                assert!(point.at_bytes < plan.size);
            }
            match plan.kind {
                DealKind::Free => {
                    assert!(plan.params.price_per_byte.is_zero());
                    assert!(plan.params.unseal_price.is_zero());
                }
                DealKind::Paid => {
                    assert!(plan.params.price_per_byte.is_positive());
                    assert!(plan.params.unseal_price.is_zero());
                }
                DealKind::PaidUnseal => {
                    assert!(plan.params.unseal_price.is_positive());
                }
            }
        }
    }

    #[test]
    fn a_zero_mix_plans_only_paid_deals_without_faults() {
        let none = FaultMix {
            unseal_failure: 0.0,
            client_cancel: 0.0,
            transfer_error: 0.0,
            paid_unseal: 0.0,
            free: 0.0,
        };
        for i in 0..200 {
            let plan = DealPlan::generate(3, i, &none);
            assert_eq!(plan.kind, DealKind::Paid);
            assert_eq!(plan.fault, Fault::None);
            assert_eq!(plan.expected_status(), DealStatus::Completed);
        }
    }

    #[test]
    fn ids_map_back_to_indices() {
        let plan = DealPlan::generate(1, 41, &mix());
        assert_eq!(index_of(plan.id(), 42), Some(41));
        assert_eq!(index_of(plan.id(), 41), None);
        assert_eq!(index_of(DealId(0), 42), None);
    }

    #[test]
    fn range_stays_in_bounds() {
        let mut rng = SplitMix64::for_deal(0, 0);
        for _ in 0..1000 {
            let x = rng.range(5, 9);
            assert!((5..=9).contains(&x));
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(rng.range(4, 4), 4);
    }
}
