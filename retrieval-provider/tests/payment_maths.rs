//! Payment maths on `Params` and the UpdateFunding arithmetic of Go's `TestUpdateFunding`.

use proptest::prelude::*;
use retrieval_provider::{Params, TokenAmount};

fn amount(n: i64) -> TokenAmount {
    TokenAmount::from(n)
}

/// The V0 params of Go's `TestParamsIntervalBounds`: I = 10, Δ = 5, price 1, no unseal price.
fn interval_bounds_params() -> Params {
    Params::new_v0(amount(1), 10, 5)
}

/// The UpdateFunding fixture of Go's `providerstates_test`: P = 500, I = 1000, Δ = 500, U = 500,000.
fn update_funding_params() -> Params {
    Params {
        unseal_price: amount(500_000),
        ..Params::new_v0(amount(500), 1000, 500)
    }
}

#[test]
fn go_interval_bounds_vectors() {
    let params = interval_bounds_params();
    for (current, lower, next) in [(0, 0, 10), (10, 10, 25), (25, 25, 45), (45, 45, 70)] {
        assert_eq!(
            params.interval_lower_bound(current),
            lower,
            "lower({current})"
        );
        assert_eq!(
            params.next_interval(&amount(current as i64)),
            next,
            "next({current})"
        );
    }
}

#[test]
fn lower_bound_between_boundaries() {
    let params = interval_bounds_params();
    assert_eq!(params.interval_lower_bound(9), 0);
    assert_eq!(params.interval_lower_bound(24), 10);
    assert_eq!(params.interval_lower_bound(69), 45);
    assert_eq!(params.next_boundary(44), 45);
}

#[test]
fn next_interval_is_unlimited_for_free_transfers() {
    let params = Params::new_v0(TokenAmount::zero(), 10, 5);
    assert_eq!(params.next_interval(&amount(1_000_000)), 0);
}

/// (start FR, received, queued, in finalization) → (owed, data limit), as in Go's `TestUpdateFunding`.
#[test]
fn update_funding_arithmetic() {
    let params = update_funding_params();
    let cases = [
        // U4: unseal paid exactly, nothing sent yet.
        ("U4", 0, 500_000, 0, false, 0, 1000),
        // U5: the worked example of Go's `TestUpdateFunding`.
        ("U5", 500_000, 500_000, 1000, false, 0, 2500),
        ("U6", 1_000_000, 500_000, 2000, true, 0, 2500),
        ("U7", 0, 250_000, 0, false, 250_000, 1000),
        ("U8", 500_000, 250_000, 1000, false, 250_000, 1000),
        ("U9", 1_000_000, 250_000, 2000, true, 250_000, 2500),
        ("U10", 0, 0, 0, false, 500_000, 1000),
        ("U11", 500_000, 0, 1000, false, 500_000, 1000),
        ("U12", 1_000_000, 0, 2000, true, 500_000, 2500),
        // U13: surplus payment moves the limit two intervals on.
        ("U13", 500_000, 1_250_000, 1000, false, 0, 4500),
        ("U14", 1_000_000, 0, 1000, false, 0, 2500),
        ("U15", 1_500_000, 0, 2000, true, 0, 2500),
        ("U18", 1_000_000, 0, 1000, false, 0, 2500),
    ];
    for (name, start, received, queued, fin, owed, limit) in cases {
        let total = amount(start) + amount(received);
        assert_eq!(
            params.outstanding_balance(&total, queued, fin),
            amount(owed),
            "{name} owed"
        );
        assert_eq!(params.next_interval(&total), limit, "{name} data limit");
    }
}

#[test]
fn validate_pull_success_values() {
    // Go's ValidatePull accepts a deal with DataLimit = NextInterval(0) and
    // PaymentOwed = OutstandingBalance(0, 0, false).
    let params = update_funding_params();
    assert_eq!(params.next_interval(&TokenAmount::zero()), 1000);
    assert_eq!(
        params.outstanding_balance(&TokenAmount::zero(), 0, false),
        amount(500_000)
    );
    let no_unseal = Params::new_v0(amount(500), 1000, 500);
    assert_eq!(
        no_unseal.outstanding_balance(&TokenAmount::zero(), 0, false),
        TokenAmount::zero()
    );
}

#[test]
fn zero_intervals_do_not_hang() {
    // Go loops forever here; the port defines: the only boundary is 0, no next boundary.
    let params = Params::new_v0(amount(1), 0, 0);
    assert_eq!(params.interval_lower_bound(12_345), 0);
    assert_eq!(params.next_boundary(12_345), 0);
    assert_eq!(params.next_interval(&amount(12_345)), 0);
    // Nothing owed before finalization; everything sent is owed in it.
    assert_eq!(
        params.outstanding_balance(&TokenAmount::zero(), 100, false),
        TokenAmount::zero()
    );
    assert_eq!(
        params.outstanding_balance(&TokenAmount::zero(), 100, true),
        amount(100)
    );
}

#[test]
fn zero_interval_with_increase_matches_go() {
    // I = 0, Δ = 3: boundaries 0, 0, 3, 9, 18, ...
    let params = Params::new_v0(amount(1), 0, 3);
    assert_eq!(params.interval_lower_bound(2), 0);
    assert_eq!(params.next_boundary(2), 3);
    assert_eq!(params.interval_lower_bound(10), 9);
    assert_eq!(params.next_boundary(9), 18);
}

#[test]
fn huge_values_saturate_instead_of_overflowing() {
    let params = Params::new_v0(amount(1), u64::MAX / 2, u64::MAX);
    assert_eq!(params.interval_lower_bound(u64::MAX), u64::MAX / 2);
    assert_eq!(params.next_boundary(u64::MAX - 1), u64::MAX);
    // Bytes paid for beyond u64::MAX saturate.
    let rich = TokenAmount::from(u128::MAX);
    assert_eq!(params.next_interval(&rich), u64::MAX);
    let tiny = Params::new_v0(amount(1), 1, 0);
    assert_eq!(tiny.interval_lower_bound(u64::MAX), u64::MAX);
    assert_eq!(tiny.next_boundary(u64::MAX), u64::MAX);
}

#[test]
fn negative_transfer_funds_count_as_zero_bytes() {
    let params = update_funding_params();
    // funds below the unseal price: (250,000 - 500,000) / 500 < 0, so current = 0.
    assert_eq!(params.next_interval(&amount(250_000)), 1000);
    assert_eq!(
        params.outstanding_balance(&amount(250_000), 5000, true),
        amount(250_000)
    );
}

/// A transcription of Go's loops (terminating inputs only).
fn go_lower_bound(interval: u64, increase: u64, x: u64) -> u64 {
    let (mut lower, mut target, mut size) = (0u64, 0u64, interval);
    while target <= x {
        lower = target;
        target += size;
        size += increase;
    }
    lower
}

fn go_next(interval: u64, increase: u64, x: u64) -> u64 {
    let (mut next, mut size) = (0u64, interval);
    while next <= x {
        next += size;
        size += increase;
    }
    next
}

proptest! {
    #[test]
    fn closed_form_matches_gos_loops(
        interval in 0u64..2000,
        increase in 0u64..2000,
        x in 0u64..1_000_000,
    ) {
        prop_assume!(interval > 0 || increase > 0);
        let params = Params::new_v0(TokenAmount::from(1), interval, increase);
        prop_assert_eq!(params.interval_lower_bound(x), go_lower_bound(interval, increase, x));
        prop_assert_eq!(params.next_boundary(x), go_next(interval, increase, x));
    }

    #[test]
    fn owed_is_never_negative(
        funds in 0i64..10_000_000,
        sent in 0u64..100_000,
        fin: bool,
    ) {
        let params = update_funding_params();
        prop_assert!(!params.outstanding_balance(&TokenAmount::from(funds), sent, fin).is_negative());
    }
}
