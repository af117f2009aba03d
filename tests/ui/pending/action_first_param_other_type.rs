// TODO(lead): besides the macro's own error, rustc reports E0106 "missing lifetime specifier"
// at the misplaced `&mut Job`: lowering keeps every parameter after the first as payload, so
// `&mut Job` becomes a field of `JobInput`. Expected: only the macro's error (e.g. leave out of
// the payload every parameter typed `&mut Job`). Move to ../fail/ when fixed.
// An action whose first parameter is not the state at all.
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
            .Action(|worker: u32, job: &mut Job| {
                let _ = (worker, job);
                Ok(())
            }),
    }
}

fn main() {}
