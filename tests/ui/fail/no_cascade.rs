// A table error while the crate uses the generated items: only the table's error is shown.
use fsm_runtime::{Context, EntryResult, Machine, fsm};

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
            .Action(|job: &mut Job, worker: u32| {
                let _ = (job, worker);
                Ok(())
            }),
        Event(JobEvent::Finish)
            .From(JobStatus::Running).To(JobStatus::Done)
            .From(JobStatus::Running).ToNoChange(),
    }
    finality_states { JobStatus::Done }
    entry_funcs {
        JobStatus::Running => work,
    }
}

struct Env;

impl JobEntry for Env {
    async fn work(&self, ctx: &mut Context<JobFsm>, job: &Job) -> EntryResult {
        let _ = (ctx, job);
        Ok(())
    }
}

fn main() {
    let mut job = Job {
        status: JobStatus::New,
    };
    let input = JobInput::Start(7);
    assert_eq!(input.code(), JobEvent::Start);
    let _ = JobFsm::transition(&mut job, input);
    let _ = JobFsm::transition(&mut job, JobInput::Finish);
    let _ = JobFsm::table();
    let _ = Env;
}
