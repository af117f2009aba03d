//! P7: events/s through the PostgreSQL store, with one to three group instances sharing one
//! group (each machine is driven through the instance that owns its shard).
//!
//! ```sh
//! bash .ci/pg cargo run --release -p fsm-postgres --example pg_throughput -- 1 10000 10
//! bash .ci/pg cargo run --release -p fsm-postgres --example pg_throughput -- 3 10000 10
//! ```
//! Arguments: instances (1 to 3), machines, events per machine. Each machine gets its events
//! by `send_sync` from its own task, so many machines' writes share each commit.

use std::time::{Duration, Instant};

use fsm_postgres::PgStoreBuilder;
use fsm_runtime::{ActionResult, Group, fsm};
use serde::{Deserialize, Serialize};

/// The counter's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Counting.
    Counting,
}

/// The counter's only event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ev {
    /// Adds one.
    Add,
}

/// The record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    status: Status,
    count: u64,
}

fn add(counter: &mut Counter) -> ActionResult {
    counter.count += 1;
    Ok(())
}

fsm! {
    /// A counter.
    pub machine CounterFsm {
        state: Counter,
        status: Status,
        event: Ev,
        input: CounterInput,
        entry: CounterEntry,
    }
    events {
        Event(Ev::Add).From(Status::Counting).ToJustRecord().Action(add as fn(&mut Counter)),
    }
}

/// No entry funcs.
struct NoEntry;
impl CounterEntry for NoEntry {}

type PgGroup = Group<CounterFsm, NoEntry, u64, fsm_postgres::PgStore>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("FSM_PG_URL").map_err(|_| "set FSM_PG_URL (or run via .ci/pg)")?;
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse())
        .collect::<Result<_, _>>()?;
    let (instances, machines, events) = match args[..] {
        [i, m, e] => (i.clamp(1, 3), m, e),
        _ => (1, 1000, 20),
    };
    let group_name = format!("p7-{}-{}", std::process::id(), instances);
    let mut groups: Vec<PgGroup> = Vec::new();
    let mut stores = Vec::new();
    for instance in 0..instances {
        let store = PgStoreBuilder::new(&url, &group_name)
            .owner(format!("p7-instance-{instance}"))
            .lease_ttl(Duration::from_secs(30))
            .connect()
            .await?;
        stores.push(store.clone());
        groups.push(Group::builder(store, NoEntry).open().await?);
    }
    // Rebalance until every instance holds the shards it should (the first one took all of
    // them; each round hands shards over or takes them).
    loop {
        let mut settled = true;
        for store in &stores {
            let report = store.rebalance().await?;
            settled &= report.is_settled() && report.members == stores.len();
        }
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The instance owning a machine's shard drives it.
    let owner = |id: u64| {
        let key = id.to_be_bytes();
        let index = stores
            .iter()
            .position(|store| store.owns(&key))
            .unwrap_or(0);
        groups[index].clone()
    };
    for id in 0..machines {
        let initial = Counter {
            status: Status::Counting,
            count: 0,
        };
        owner(id).begin(id, initial).await?;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..machines)
        .map(|id| {
            let group = owner(id);
            tokio::spawn(async move {
                for _ in 0..events {
                    group.send_sync(id, CounterInput::Add).await?;
                }
                Ok::<_, fsm_runtime::group::SendError<CounterFsm, u64>>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let total = machines * events;
    let commits: u64 = groups.iter().map(|group| group.counters().commits).sum();
    println!(
        "P7 instances={instances} machines={machines} events={total} time={elapsed:.2?} \
         events/s={:.0} commits={commits} writes/commit={:.1}",
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / commits.max(1) as f64,
    );
    for group in &groups {
        // Stops the group and closes its store, handing the instance's shards over.
        group.close().await?;
    }
    Ok(())
}
