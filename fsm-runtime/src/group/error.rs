//! The group's typed errors. Every error names the machine id; errors about an input that was
//! not applied hand the input back.

use std::fmt;
use std::sync::Arc;

use crate::codec::CodecError;
use crate::id::{IdError, MachineId};
use crate::machine::{ActionError, Machine};
use crate::store::{MetaError, StoreError};

/// Why [`Group::send`](super::Group::send) or [`Group::send_sync`](super::Group::send_sync)
/// did not apply an input.
///
/// Variants that carry `input` hand the rejected input back ([`SendError::into_input`]); the
/// others are about an input that was consumed by the transition function.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SendError<M: Machine, I: MachineId> {
    /// The group has been stopped.
    #[error("machine {}: the group is stopped", .id.display())]
    Stopped {
        /// The machine.
        id: I,
        /// The rejected input.
        input: M::Input,
    },
    /// No machine with this id exists (the group never creates machines implicitly).
    #[error("machine {}: no such machine (begin it first)", .id.display())]
    UnknownId {
        /// The machine.
        id: I,
        /// The rejected input.
        input: M::Input,
    },
    /// The machine is in a final status and accepts no more events.
    #[error("machine {}: terminated in final status {status:?}, event {:?} rejected", .id.display(), M::event(.input))]
    Terminated {
        /// The machine.
        id: I,
        /// Its final status.
        status: M::Status,
        /// The rejected input.
        input: M::Input,
    },
    /// The machine was halted because an entry func failed under
    /// [`EntryErrorPolicy::Terminal`](super::EntryErrorPolicy::Terminal).
    #[error("machine {}: halted in status {status:?} after entry func failure ({error}), event {:?} rejected", .id.display(), M::event(.input))]
    Halted {
        /// The machine.
        id: I,
        /// The status it halted in.
        status: M::Status,
        /// The entry func's error text.
        error: Arc<str>,
        /// The rejected input.
        input: M::Input,
    },
    /// No transition of this event leaves the current status; the record is unchanged.
    #[error("machine {}: invalid transition: event {:?} from status {status:?}", .id.display(), M::event(.input))]
    Invalid {
        /// The machine.
        id: I,
        /// Its (unchanged) status.
        status: M::Status,
        /// The rejected input.
        input: M::Input,
    },
    /// The event's action returned an error; the record is unchanged.
    #[error("machine {}: action of event {event:?} failed in status {status:?}: {error}", .id.display())]
    ActionFailed {
        /// The machine.
        id: I,
        /// The event.
        event: M::Event,
        /// Its (unchanged) status.
        status: M::Status,
        /// The action's error.
        #[source]
        error: ActionError,
    },
    /// The event's action panicked; the record is unchanged and the machine keeps serving.
    #[error("machine {}: action of event {event:?} panicked in status {status:?}: {message}", .id.display())]
    ActionPanicked {
        /// The machine.
        id: I,
        /// The event.
        event: M::Event,
        /// Its (unchanged) status.
        status: M::Status,
        /// The panic message.
        message: String,
    },
    /// The stored record of the machine cannot be decoded.
    #[error("machine {}: stored record is corrupt: {source}", .id.display())]
    Corrupt {
        /// The machine.
        id: I,
        /// The decoding error.
        source: CodecError,
        /// The rejected input, when it had not been consumed yet.
        input: Option<M::Input>,
    },
    /// Reading or writing the store failed. When the input had been applied in memory, that
    /// application was rolled back: the record is as it was before.
    #[error("machine {}: store error{}: {source}", .id.display(), .event.map(|e| format!(" saving event {e:?}")).unwrap_or_default())]
    Store {
        /// The machine.
        id: I,
        /// The event whose result could not be saved, when the input was consumed.
        event: Option<M::Event>,
        /// The store's error.
        source: StoreError,
        /// The rejected input, when it had not been consumed yet.
        input: Option<M::Input>,
    },
    /// The machine's queue holds as many inputs as its bound allows
    /// ([`GroupBuilder::queue_bound`](super::GroupBuilder::queue_bound)):
    /// [`Group::try_send`](super::Group::try_send) does not wait for room.
    #[error("machine {}: queue full, event {:?} not queued", .id.display(), M::event(.input))]
    Full {
        /// The machine.
        id: I,
        /// The rejected input.
        input: M::Input,
    },
    /// The engine panicked while handling the machine (in the record codec, the record's
    /// `Clone`, or the engine itself): the machine is halted, its record as last saved.
    #[error("machine {}: engine panic{}: {message}", .id.display(), .event.map(|e| format!(" after event {e:?}")).unwrap_or_default())]
    EnginePanic {
        /// The machine.
        id: I,
        /// The event that was applied but could not be saved, when the input was consumed.
        event: Option<M::Event>,
        /// The panic message.
        message: String,
        /// The rejected input, when it had not been consumed yet.
        input: Option<M::Input>,
    },
    /// Encoding the new record failed; the application was rolled back.
    #[error("machine {}: cannot encode record after event {event:?}: {source}", .id.display())]
    Encode {
        /// The machine.
        id: I,
        /// The event.
        event: M::Event,
        /// The codec's error.
        source: CodecError,
    },
}

impl<M: Machine, I: MachineId> SendError<M, I> {
    /// The machine the error is about.
    pub fn id(&self) -> &I {
        match self {
            Self::Stopped { id, .. }
            | Self::UnknownId { id, .. }
            | Self::Terminated { id, .. }
            | Self::Halted { id, .. }
            | Self::Invalid { id, .. }
            | Self::ActionFailed { id, .. }
            | Self::ActionPanicked { id, .. }
            | Self::Corrupt { id, .. }
            | Self::Store { id, .. }
            | Self::Full { id, .. }
            | Self::EnginePanic { id, .. }
            | Self::Encode { id, .. } => id,
        }
    }

    /// The rejected input, when the error hands it back.
    pub fn into_input(self) -> Option<M::Input> {
        match self {
            Self::Stopped { input, .. }
            | Self::UnknownId { input, .. }
            | Self::Terminated { input, .. }
            | Self::Halted { input, .. }
            | Self::Full { input, .. }
            | Self::Invalid { input, .. } => Some(input),
            Self::Corrupt { input, .. }
            | Self::Store { input, .. }
            | Self::EnginePanic { input, .. } => input,
            Self::ActionFailed { .. } | Self::ActionPanicked { .. } | Self::Encode { .. } => None,
        }
    }
}

impl<M: Machine, I: MachineId> fmt::Debug for SendError<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Display text already names every field that matters; keep Debug readable.
        f.debug_tuple("SendError").field(&self.to_string()).finish()
    }
}

/// Why [`Group::begin`](super::Group::begin) did not create a machine. The initial state is
/// handed back where it was not stored.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BeginError<M: Machine, I: MachineId> {
    /// A machine with this id already exists (in memory or in the store).
    #[error("machine {}: already exists", .id.display())]
    AlreadyExists {
        /// The machine.
        id: I,
        /// The initial state that was not stored.
        state: M::State,
    },
    /// The group has been stopped.
    #[error("machine {}: the group is stopped", .id.display())]
    Stopped {
        /// The machine.
        id: I,
        /// The initial state that was not stored.
        state: M::State,
    },
    /// The initial state cannot be encoded.
    #[error("machine {}: cannot encode initial record: {source}", .id.display())]
    Encode {
        /// The machine.
        id: I,
        /// The codec's error.
        source: CodecError,
        /// The initial state that was not stored.
        state: M::State,
    },
    /// The store failed; nothing was created.
    #[error("machine {}: store error: {source}", .id.display())]
    Store {
        /// The machine.
        id: I,
        /// The store's error.
        source: StoreError,
        /// The initial state that was not stored.
        state: M::State,
    },
}

impl<M: Machine, I: MachineId> fmt::Debug for BeginError<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BeginError")
            .field(&self.to_string())
            .finish()
    }
}

/// Why reading records ([`Group::get`](super::Group::get), [`Group::list`](super::Group::list),
/// introspection) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<I: MachineId> {
    /// The stored record of this machine cannot be decoded.
    #[error("machine {}: stored record is corrupt: {source}", .id.display())]
    Corrupt {
        /// The machine.
        id: I,
        /// The decoding error.
        source: CodecError,
    },
    /// The engine metadata of this machine is missing or damaged (its record may still be
    /// readable).
    #[error("machine {}: {source}", .id.display())]
    Meta {
        /// The machine.
        id: I,
        /// What is wrong with the metadata.
        source: MetaError,
    },
    /// A key under the group's prefix is not a valid id.
    #[error(transparent)]
    BadKey(#[from] IdError),
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}
