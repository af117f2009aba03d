// A shared action whose declared signature differs from the function's.
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
            .Action(start_job as fn(&mut Job, String)),
    }
}

fn start_job(job: &mut Job, worker: u32) -> fsm_runtime::ActionResult {
    let _ = (job, worker);
    Ok(())
}

fn main() {}
