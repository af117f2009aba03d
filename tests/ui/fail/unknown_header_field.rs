// A misspelled header field gets a suggestion (`status_feild` -> `status_field`).
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
        status_feild: status,
    }
    events {
        Event(JobEvent::Start).From(JobStatus::New).To(JobStatus::Running),
    }
}

fn main() {}
