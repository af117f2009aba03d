// An unknown header field with no close match lists the valid fields.
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
        retries: 3,
    }
    events {
        Event(JobEvent::Start).From(JobStatus::New).To(JobStatus::Running),
    }
}

fn main() {}
