// A shared action whose signature does not start with `&mut Job`.
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
            .Action(start_job as fn(u32, &mut Job)),
    }
}

fn start_job(worker: u32, job: &mut Job) -> fsm_runtime::ActionResult {
    let _ = (worker, job);
    Ok(())
}

fn main() {}
