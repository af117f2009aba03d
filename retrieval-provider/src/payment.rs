//! Payment maths on [`Params`]: interval boundaries, the data limit after a
//! payment, and what is owed.
//!
//! Payment-interval boundaries are `b₀ = 0, b₁ = I, b₂ = b₁ + (I + Δ), b₃ = b₂ + (I + 2Δ), …`
//! with `I = payment_interval` and `Δ = payment_interval_increase`, so
//! `b_k = k·I + Δ·k(k−1)/2`.
//!
//! # Differences from Go (on purpose)
//!
//! * **No hang.** Go walks the boundaries in a loop that never ends when `I = Δ = 0` (every
//!   boundary is 0). Here that case has a defined result: the only boundary is 0, so
//!   [`Params::interval_lower_bound`] is 0 and there is no next boundary —
//!   [`Params::next_interval`] returns 0, which data transfer reads as "no limit". With a
//!   price > 0 the effect is that nothing is owed before finalization, when everything sent
//!   is owed ([`Params::outstanding_balance`] with `in_finalization`).
//! * **No overflow.** Boundaries are computed in closed form with checked `u128` arithmetic
//!   (Go's `uint64` wraps silently, and its loop is linear in the byte count). A boundary past
//!   `u64::MAX` does not exist for the lower bound, and the next boundary saturates at
//!   `u64::MAX`. A paid-for byte count above `u64::MAX` saturates likewise.
//!
//! For every input where Go terminates without overflow the results are Go's (a property
//! test checks this against a transcription of the Go loops).

use crate::token::TokenAmount;
use crate::types::Params;

impl Params {
    /// `b_k`, or `None` past `u64::MAX`.
    fn boundary(&self, k: u64) -> Option<u64> {
        let (k, i, d) = (
            u128::from(k),
            u128::from(self.payment_interval),
            u128::from(self.payment_interval_increase),
        );
        let linear = k.checked_mul(i)?;
        // k(k−1) is even, so the halving is exact.
        let triangle = k.checked_mul(k.saturating_sub(1))? / 2;
        let value = linear.checked_add(d.checked_mul(triangle)?)?;
        u64::try_from(value).ok()
    }

    /// The largest `k` with `b_k ≤ x`, or `None` when every boundary is 0 (`I = Δ = 0`).
    fn boundary_index(&self, x: u64) -> Option<u64> {
        if self.payment_interval == 0 && self.payment_interval_increase == 0 {
            return None;
        }
        // b_k is non-decreasing in k; b_{k+1} − b_k = I + kΔ ≥ 1 for k ≥ 1 here, so
        // b_k ≥ k − 1 and the answer is at most x + 1. Binary search over [0, x + 1].
        let (mut lo, mut hi) = (0u64, x.saturating_add(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            match self.boundary(mid) {
                Some(b) if b <= x => lo = mid,
                _ => hi = mid - 1,
            }
        }
        Some(lo)
    }

    /// Go's `IntervalLowerBound(x)`: the largest payment-interval boundary ≤ `x`.
    ///
    /// 0 when `I = Δ = 0` (where Go loops forever; see the module docs).
    pub fn interval_lower_bound(&self, x: u64) -> u64 {
        self.boundary_index(x)
            .and_then(|k| self.boundary(k))
            .unwrap_or(0)
    }

    /// Go's private `nextInterval(x)`: the smallest boundary > `x`, saturating at `u64::MAX`;
    /// 0 (no boundary) when `I = Δ = 0`.
    pub fn next_boundary(&self, x: u64) -> u64 {
        match self.boundary_index(x) {
            None => 0,
            Some(k) => k
                .checked_add(1)
                .and_then(|next| self.boundary(next))
                .unwrap_or(u64::MAX),
        }
    }

    /// Go's `NextInterval(fundsReceived)`: the data limit once `funds` have been received.
    ///
    /// 0 (no limit) when the price per byte is zero. Otherwise the bytes paid for are
    /// `(funds − unseal_price) / price_per_byte` (Euclidean division, as Go's `big.Div`),
    /// taken as 0 when not positive and saturated at `u64::MAX`, and the result is the next
    /// boundary above them ([`next_boundary`](Self::next_boundary)).
    pub fn next_interval(&self, funds: &TokenAmount) -> u64 {
        if self.price_per_byte.is_zero() {
            return 0;
        }
        let transfer_funds = if self.unseal_price.is_zero() {
            funds.clone()
        } else {
            funds - &self.unseal_price
        };
        let current = match transfer_funds.div_euclid(&self.price_per_byte) {
            Some(paid) if paid.is_positive() => paid.to_u64().unwrap_or(u64::MAX),
            _ => 0,
        };
        self.next_boundary(current)
    }

    /// Go's `OutstandingBalance(fundsReceived, sent, inFinalization)`: what the client owes
    /// now.
    ///
    /// 1. `funds < unseal_price`: the rest of the unseal price.
    /// 2. Price per byte zero: nothing.
    /// 3. Otherwise the bytes to pay for are `sent` in finalization and
    ///    [`interval_lower_bound(sent)`](Self::interval_lower_bound) before it, and the result
    ///    is `bytes × price − (funds − unseal_price)`, at least zero.
    pub fn outstanding_balance(
        &self,
        funds: &TokenAmount,
        sent: u64,
        in_finalization: bool,
    ) -> TokenAmount {
        if funds < &self.unseal_price {
            return &self.unseal_price - funds;
        }
        if self.price_per_byte.is_zero() {
            return TokenAmount::zero();
        }
        let transfer_paid = funds - &self.unseal_price;
        let min_bytes = if in_finalization {
            sent
        } else {
            self.interval_lower_bound(sent)
        };
        (&self.price_per_byte * min_bytes - transfer_paid).clamp_non_negative()
    }
}
