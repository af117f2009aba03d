// Every builder word: From, FromMany, FromAny, To, ToNoChange, ToJustRecord, closure and shared
// actions, `A | B => f` entry funcs, finality states and the consume-all flag.
use fsm_runtime::{ActionResult, Context, EntryResult, Machine, Outcome, fsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    New,
    Waiting,
    Working,
    Failing,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Event {
    Open,
    Accept,
    Poke,
    Note,
    Fail,
    Close,
}

#[derive(Debug, Clone)]
struct Deal {
    status: Status,
    worker: Option<u32>,
    notes: u32,
    message: String,
}

fn record_error(deal: &mut Deal, message: String) -> ActionResult {
    deal.message = message;
    Ok(())
}

fsm! {
    /// A deal that uses every word of the DSL.
    machine DealFsm {
        state: Deal,
        status: Status,
        event: Event,
        input: DealInput,
        entry: DealEntry,
        consume_all_events_before_entry_funcs: true,
        status_field: status,
    }
    events {
        Event(Event::Open)
            .From(Status::New).ToNoChange(),
        Event(Event::Accept)
            .Action(|deal: &mut Deal, worker: u32| {
                deal.worker = Some(worker);
                Ok(())
            })
            .From(Status::New).To(Status::Waiting)
            .From(Status::Waiting).To(Status::Working),
        Event(Event::Poke).FromAny().ToNoChange(),
        Event(Event::Note)
            .FromMany(Status::Waiting, Status::Working).ToJustRecord()
            .Action(|deal: &mut Deal| {
                deal.notes += 1;
                Ok(())
            }),
        Event(Event::Fail)
            .FromMany(Status::Waiting, Status::Working).To(Status::Failing)
            .Action(record_error as fn(&mut Deal, String)),
        Event(Event::Close)
            .From(Status::Working).To(Status::Done)
            .From(Status::Failing).To(Status::Failed),
    }
    finality_states { Status::Done, Status::Failed }
    entry_funcs {
        Status::Waiting | Status::Working => work,
        Status::Failing => clean_up,
    }
}

struct Env;

impl DealEntry for Env {
    async fn work(&self, ctx: &mut Context<DealFsm>, deal: &Deal) -> EntryResult {
        let _ = (ctx, deal);
        Ok(())
    }

    async fn clean_up(&self, ctx: &mut Context<DealFsm>, deal: &Deal) -> EntryResult {
        let _ = (ctx, deal);
        Ok(())
    }
}

fn main() {
    let _ = Env;
    assert!(DealFsm::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS);
    assert_eq!(DealFsm::entry_func(Status::Working), Some("work"));
    assert_eq!(DealFsm::entry_func(Status::Failing), Some("clean_up"));
    assert!(DealFsm::is_final(Status::Failed));

    let mut deal = Deal {
        status: Status::New,
        worker: None,
        notes: 0,
        message: String::new(),
    };
    let outcome = DealFsm::transition(&mut deal, DealInput::Accept(3));
    assert!(matches!(
        outcome,
        Outcome::Moved {
            to: Status::Waiting,
            ..
        }
    ));
    assert_eq!(deal.worker, Some(3));
    let outcome = DealFsm::transition(&mut deal, DealInput::Note);
    assert!(matches!(outcome, Outcome::Recorded { .. }));
    assert_eq!(deal.notes, 1);
    let outcome = DealFsm::transition(&mut deal, DealInput::Fail("disk full".to_owned()));
    assert!(matches!(
        outcome,
        Outcome::Moved {
            to: Status::Failing,
            ..
        }
    ));
    assert_eq!(deal.message, "disk full");
    assert_eq!(DealInput::Open.code(), Event::Open);
}
