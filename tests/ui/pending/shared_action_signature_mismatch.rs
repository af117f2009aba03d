// TODO(lead): rustc reports E0308 "expected `u32`, found `String`" spanning the WHOLE `fsm!`
// invocation, with a bogus "parentheses are required to parse this as an expression" help.
// Expected: one error on `start_job` (or on the written `fn(..)`), e.g. by emitting
// `let action: fn(&mut Job, String) -> _ = start_job;` with the user tokens' spans. Move to
// ../fail/ when fixed.
// A shared action whose declared signature differs from the function's.
use fsm_runtime::fsm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobStatus {
    New,
    Running,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobEvent {
    Start,
    Finish,
}

#[derive(Debug, Clone)]
struct Job {
    status: JobStatus,
}

fsm! {
    machine JobFsm {
        state: Job,
        status: JobStatus,
        event: JobEvent,
        input: JobInput,
        entry: JobEntry,
    }
    events {
        Event(JobEvent::Start)
            .From(JobStatus::New).To(JobStatus::Running)
            .Action(start_job as fn(&mut Job, String)),
    }
}

fn start_job(job: &mut Job, worker: u32) -> fsm_runtime::ActionResult {
    let _ = (job, worker);
    Ok(())
}

fn main() {}
