// TODO(lead): no macro diagnostic. rustc reports E0106 "missing lifetime specifier" at `&str`
// with a misleading suggestion to write `input: JobInput<'a>` in the header, plus E0792 spanning
// the whole invocation. Expected: one macro error at `&str`, e.g. "payload parameter `name`
// borrows: inputs are queued and sent between tasks, so the payload must own its data (use
// `String`)". Move to ../fail/ when fixed.
// A payload parameter that borrows (`&str`): the input enum must own its data.
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
            .Action(|job: &mut Job, name: &str| {
                let _ = (job, name);
                Ok(())
            }),
    }
}

fn main() {}
