// TODO(lead): rustc reports E0308 "expected `Result<(), Box<dyn Error + Send + Sync>>`, found `()`"
// spanning the WHOLE `fsm!` invocation, because the generated `-> ::fsm_runtime::ActionResult`
// has call-site spans. Expected: the error on the closure body (emit the default return type
// with `quote_spanned!(closure.body.span()=> ...)`). Move to ../fail/ when fixed.
// An action closure that does not return a `Result`.
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
            .Action(|job: &mut Job| {
                job.status = JobStatus::Running;
            }),
    }
}

fn main() {}
