// One func may be mapped on several lines, but each status only once.
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
        Event(JobEvent::Start).From(JobStatus::New).To(JobStatus::Running),
    }
    entry_funcs {
        JobStatus::New => work,
        JobStatus::Running => work,
        JobStatus::New | JobStatus::Done => work,
    }
}

fn main() {}
