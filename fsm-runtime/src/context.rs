//! The context an entry func runs with.

use crate::machine::Machine;

/// Handed to every entry func: the way it triggers further events on its own machine
/// (Go's `fsm.Context.Trigger`).
///
/// Triggered inputs are not applied inline: they are applied, in the order they were
/// triggered, after the entry func returns. Because inputs are typed, the
/// "unknown event" and "wrong arguments" errors of Go's `Trigger` cannot happen.
pub struct Context<M: Machine> {
    triggered: Vec<M::Input>,
}

impl<M: Machine> Context<M> {
    /// An empty context.
    pub fn new() -> Self {
        Self {
            triggered: Vec::new(),
        }
    }

    /// Queues `input` on this machine, to be applied after the entry func returns.
    pub fn trigger(&mut self, input: M::Input) {
        self.triggered.push(input);
    }

    /// The inputs triggered so far, in trigger order.
    pub fn triggered(&self) -> &[M::Input] {
        &self.triggered
    }

    /// Takes the triggered inputs out, leaving the context empty and reusable.
    pub fn take_triggered(&mut self) -> Vec<M::Input> {
        std::mem::take(&mut self.triggered)
    }

    /// Drains the triggered inputs in trigger order, keeping the buffer's capacity.
    pub fn drain_triggered(&mut self) -> std::vec::Drain<'_, M::Input> {
        self.triggered.drain(..)
    }
}

impl<M: Machine> Default for Context<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Machine> std::fmt::Debug for Context<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("triggered", &self.triggered)
            .finish()
    }
}
