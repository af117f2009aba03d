//! [`ProviderError`]: the error payload of events that carry a Go `error`.

use std::fmt;

/// An error carried by an event (`UnsealError`, `SaveVoucherFailed`, `DataTransferError`,
/// `MultiStoreError`). Go's actions keep only `err.Error()` (into the deal's `Message`), so the
/// message is the whole error; it is `Clone` and comparable so events can be recorded and
/// replayed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProviderError(String);

impl ProviderError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError(message.into())
    }

    /// The error's message (Go's `err.Error()`).
    pub fn message(&self) -> &str {
        &self.0
    }

    /// Captures any error's `Display` text.
    pub fn from_error(err: &(dyn std::error::Error + '_)) -> Self {
        ProviderError(err.to_string())
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderError({:?})", self.0)
    }
}

impl std::error::Error for ProviderError {}

impl From<String> for ProviderError {
    fn from(message: String) -> Self {
        ProviderError(message)
    }
}

impl From<&str> for ProviderError {
    fn from(message: &str) -> Self {
        ProviderError(message.to_owned())
    }
}
