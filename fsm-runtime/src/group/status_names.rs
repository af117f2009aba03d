//! The names statuses are stored under in the engine metadata (and the status index).
//!
//! A status is stored by the last segment of its path as the table writes it (`DealStatus::New`
//! is `"New"`), so the name is stable across builds and readable in a SQL column. A status the
//! table never mentions is stored by its `Debug` text.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::machine::Machine;
use crate::table::{Destination, StatusInfo};

type Hasher = foldhash::fast::RandomState;

/// Both directions of the status ↔ name mapping of one machine, built once per group.
pub(super) struct StatusNames<M: Machine> {
    names: HashMap<M::Status, &'static str, Hasher>,
    statuses: HashMap<&'static str, M::Status, Hasher>,
}

impl<M: Machine> StatusNames<M> {
    /// The mapping of every status `M`'s table mentions.
    pub(super) fn new() -> Self {
        let table = M::table();
        let mut known: Vec<&StatusInfo<M::Status>> = Vec::new();
        for event in table.events {
            for transition in event.transitions {
                known.extend(transition.sources.states());
                if let Destination::To(to) = &transition.destination {
                    known.push(to);
                }
            }
        }
        known.extend(table.finality_states);
        known.extend(table.entry_funcs.iter().flat_map(|func| func.states));
        let mut names = HashMap::default();
        let mut statuses = HashMap::default();
        for info in known {
            let name = info.path.rsplit("::").next().unwrap_or(info.path).trim();
            names.entry(info.status).or_insert(name);
            statuses.entry(name).or_insert(info.status);
        }
        Self { names, statuses }
    }

    /// The stored name of `status`.
    pub(super) fn name(&self, status: M::Status) -> Cow<'static, str> {
        match self.names.get(&status) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("{status:?}")),
        }
    }

    /// The status stored as `name`, if the table mentions it.
    pub(super) fn status(&self, name: &str) -> Option<M::Status> {
        self.statuses.get(name).copied()
    }
}
