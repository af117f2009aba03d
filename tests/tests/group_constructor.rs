//! `Name::group(store, env)`: the per-machine group constructor, which fixes the machine type so
//! that opening a group needs no annotation. (`Group::builder(store, env)` cannot infer the
//! machine from its arguments: "type annotations needed for `Group<_, Env, u64, _>`".)

use fsm_runtime::store::MemoryStore;
use fsm_runtime::{Context, EntryResult, fsm};
use serde::{Deserialize, Serialize};

/// Statuses of the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CounterStatus {
    /// Adding up.
    Counting,
    /// Final.
    Done,
}

/// Event codes of the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterEvent {
    /// Add to the total.
    Add,
    /// Stop counting.
    Finish,
}

/// The counter's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    /// Its status.
    pub status: CounterStatus,
    /// The total so far.
    pub total: u64,
}

fsm! {
    /// Adds numbers until told to stop.
    pub machine CounterFsm {
        state: Counter,
        status: CounterStatus,
        event: CounterEvent,
        input: CounterInput,
        entry: CounterEntry,
    }

    events {
        Event(CounterEvent::Add)
            .From(CounterStatus::Counting).ToJustRecord()
            .Action(|counter: &mut Counter, n: u64| {
                counter.total += n;
                Ok(())
            }),
        Event(CounterEvent::Finish).From(CounterStatus::Counting).To(CounterStatus::Done),
    }

    finality_states { CounterStatus::Done }

    entry_funcs {
        CounterStatus::Counting => counting,
    }
}

/// The environment entry funcs run against.
pub struct Env;

impl CounterEntry for Env {
    async fn counting(&self, _ctx: &mut Context<CounterFsm>, _counter: &Counter) -> EntryResult {
        Ok(())
    }
}

#[tokio::test]
async fn a_group_opens_without_type_annotations() {
    // No turbofish and no annotation: the machine comes from `CounterFsm::group`, the id type
    // from `begin`.
    let group = CounterFsm::group(MemoryStore::new(), Env)
        .open()
        .await
        .expect("the group opens");
    let start = Counter {
        status: CounterStatus::Counting,
        total: 0,
    };
    group.begin(7_u64, start).await.expect("machine 7 begins");
    group
        .send_sync(7, CounterInput::Add(5))
        .await
        .expect("Add applies");
    group
        .send_sync(7, CounterInput::Add(2))
        .await
        .expect("Add applies");
    let counter = group.get(&7).await.expect("readable").expect("saved");
    assert_eq!(counter.total, 7);
    group
        .send_sync(7, CounterInput::Finish)
        .await
        .expect("Finish applies");
    let counter = group.get(&7).await.expect("readable").expect("saved");
    assert_eq!(counter.status, CounterStatus::Done);
    group.stop().await;
}
