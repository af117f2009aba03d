// What a macro/runtime version mismatch looks like: `crate:` points at a stand-in for a runtime
// of another release, whose private module carries another version.
use fsm_runtime::fsm;

mod other_release {
    pub mod __private_v0_0 {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobStatus {
    New,
    Running,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobEvent {
    Start,
}

#[derive(Debug, Clone)]
struct Job {
    status: JobStatus,
}

fsm! {
    machine JobFsm {
        crate: crate::other_release,
        state: Job,
        status: JobStatus,
        event: JobEvent,
        input: JobInput,
        entry: JobEntry,
    }
    events {
        Event(JobEvent::Start).From(JobStatus::New).To(JobStatus::Running),
    }
}

fn main() {}
