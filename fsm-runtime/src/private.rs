//! Items the `fsm!` expansion refers to. Not part of the public API: names and shapes may
//! change in any release.

use crate::machine::ActionError;

/// Where a matched transition goes, before the status is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<S> {
    /// `To(s)`.
    To(S),
    /// `ToNoChange()`.
    NoChange,
    /// `ToJustRecord()`.
    JustRecord,
}

/// Converts an action's error into the runtime's [`ActionError`]; generic so that actions may
/// return any error type that converts.
#[inline]
pub fn action_error<E: Into<ActionError>>(error: E) -> ActionError {
    error.into()
}
