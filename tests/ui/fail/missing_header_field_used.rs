// A header without `event` while the crate uses the generated input enum.
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
        input: JobInput,
        entry: JobEntry,
    }
    events {
        Event(JobEvent::Start).From(JobStatus::New).To(JobStatus::Running),
    }
}

fn main() {
    let _ = JobInput::Start;
}
