//! What the group reports: the summary of an applied event, and the notifications a
//! [`Subscription`] receives.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

use crate::machine::Machine;
use crate::store::FailureKind;

/// How an applied event changed the status (the applied variants of
/// [`Outcome`](crate::Outcome)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppliedKind {
    /// `To(s)`: the status moved (possibly to itself) and `s`'s entry func was scheduled.
    Moved,
    /// `ToNoChange`: the status stayed and its entry func was scheduled again.
    Stayed,
    /// `ToJustRecord`: the status stayed and nothing was scheduled.
    Recorded,
}

/// An event that was applied and durably saved: what [`Group::send_sync`](super::Group::send_sync)
/// returns. Use [`AppliedOf`] to name it for a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Applied<S, E> {
    /// The applied event.
    pub event: E,
    /// The status before the event.
    pub from: S,
    /// The status after the event.
    pub to: S,
    /// How the status changed.
    pub kind: AppliedKind,
}

/// [`Applied`] for machine `M`.
pub type AppliedOf<M> = Applied<<M as Machine>::Status, <M as Machine>::Event>;

/// One notification from a group, in the order the machine produced it.
pub struct Notification<M: Machine, I> {
    /// The machine.
    pub id: I,
    /// What happened.
    pub change: Change<M>,
}

/// What a [`Notification`] reports.
pub enum Change<M: Machine> {
    /// An event was applied and saved (sent only after the save).
    Applied {
        /// The transition summary.
        applied: AppliedOf<M>,
        /// The record right after this event.
        state: Arc<M::State>,
    },
    /// The machine failed: its failure record was just written
    /// ([`Group::failures`](super::Group::failures) shows it).
    Failed {
        /// What failed.
        kind: FailureKind,
        /// The status the machine failed in.
        status: M::Status,
        /// The error text (or panic message).
        error: Arc<str>,
        /// Whether the failure halted the machine.
        halted: bool,
    },
}

impl<M: Machine, I: Clone> Clone for Notification<M, I> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            change: self.change.clone(),
        }
    }
}

impl<M: Machine> Clone for Change<M> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied { applied, state } => Self::Applied {
                applied: *applied,
                state: Arc::clone(state),
            },
            Self::Failed {
                kind,
                status,
                error,
                halted,
            } => Self::Failed {
                kind: *kind,
                status: *status,
                error: Arc::clone(error),
                halted: *halted,
            },
        }
    }
}

impl<M: Machine, I: fmt::Debug> fmt::Debug for Notification<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("id", &self.id)
            .field("change", &self.change)
            .finish()
    }
}

impl<M: Machine> fmt::Debug for Change<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied { applied, state } => f
                .debug_struct("Applied")
                .field("applied", applied)
                .field("state", state)
                .finish(),
            Self::Failed {
                kind,
                status,
                error,
                halted,
            } => f
                .debug_struct("Failed")
                .field("kind", kind)
                .field("status", status)
                .field("error", error)
                .field("halted", halted)
                .finish(),
        }
    }
}

/// A stream of a group's [`Notification`]s, from [`Group::subscribe`](super::Group::subscribe).
///
/// Backed by a bounded broadcast buffer: a subscriber that falls behind never slows machines
/// down; it loses the oldest notifications and learns how many with [`RecvError::Lagged`].
pub struct Subscription<M: Machine, I> {
    pub(super) rx: broadcast::Receiver<Notification<M, I>>,
    /// The group's live-subscriber count, decremented on drop. Machines read it (one atomic
    /// load) to skip building notifications nobody will receive, instead of asking the
    /// broadcast channel, which takes its lock.
    pub(super) subscribers: Arc<AtomicUsize>,
}

impl<M: Machine, I> Drop for Subscription<M, I> {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why [`Subscription::recv`] returned no notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell behind and this many notifications were dropped; the next call
    /// continues with the oldest one still buffered.
    #[error("subscriber lagged; {0} notifications were dropped")]
    Lagged(u64),
    /// The group is gone.
    #[error("the group is closed")]
    Closed,
}

impl<M: Machine, I: Clone> Subscription<M, I> {
    /// The next notification.
    pub async fn recv(&mut self) -> Result<Notification<M, I>, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// The next notification if one is buffered, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Notification<M, I>, RecvError>> {
        match self.rx.try_recv() {
            Ok(n) => Some(Ok(n)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

impl<M: Machine, I> fmt::Debug for Subscription<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("buffered", &self.rx.len())
            .finish()
    }
}
