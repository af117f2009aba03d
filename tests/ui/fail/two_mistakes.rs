// Two independent mistakes in one table: both are reported.
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
        Event(JobEvent::Start).Form(JobStatus::New).To(JobStatus::Running),
        Event(JobEvent::Finish).From(JobStatus::Running),
    }
}

fn main() {}
