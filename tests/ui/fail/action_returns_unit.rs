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
