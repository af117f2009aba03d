//! The names statuses are stored under in the engine metadata (and the status index).
//!
//! A status is stored by the last segment of its path as the table writes it (`DealStatus::New`
//! is `"New"`), so the name is stable across builds and readable in a SQL column. A status the
//! table never mentions (an initial status no transition names) is stored by its `Debug` text;
//! such a name maps back to its status once this process has named it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::machine::Machine;
use crate::table::{Destination, StatusInfo};

type Hasher = foldhash::fast::RandomState;

/// Both directions of the status ↔ name mapping of one machine, built once per group.
pub(super) struct StatusNames<M: Machine> {
    names: HashMap<M::Status, &'static str, Hasher>,
    statuses: HashMap<&'static str, M::Status, Hasher>,
    /// Statuses the table never mentions, by the `Debug` text they were stored under.
    unlisted: Mutex<HashMap<String, M::Status, Hasher>>,
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
        Self {
            names,
            statuses,
            unlisted: Mutex::default(),
        }
    }

    /// The stored name of `status`.
    pub(super) fn name(&self, status: M::Status) -> Cow<'static, str> {
        match self.names.get(&status) {
            Some(name) => Cow::Borrowed(name),
            None => {
                let name = format!("{status:?}");
                self.unlisted
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .entry(name.clone())
                    .or_insert(status);
                Cow::Owned(name)
            }
        }
    }

    /// The status stored as `name`, if the table mentions it or this process named it.
    pub(super) fn status(&self, name: &str) -> Option<M::Status> {
        if let Some(status) = self.statuses.get(name) {
            return Some(*status);
        }
        self.unlisted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .copied()
    }
}
