// Go's `StateEntryFuncs` map is written one status per line, so one func may be mapped on
// several lines, next to the `A | B => f` form; the trait gets one method per func.
use fsm_runtime::{Context, EntryResult, Machine, fsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobStatus {
    New,
    Running,
    Waiting,
    Retrying,
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
        Event(JobEvent::Finish).FromMany(JobStatus::Running, JobStatus::Waiting).To(JobStatus::Done),
    }
    finality_states { JobStatus::Done }
    entry_funcs {
        JobStatus::New => work,
        JobStatus::Running => work,
        JobStatus::Waiting => wait,
        JobStatus::Retrying => work,
    }
}

struct Env;

impl JobEntry for Env {
    async fn work(&self, _ctx: &mut Context<JobFsm>, _job: &Job) -> EntryResult {
        Ok(())
    }

    async fn wait(&self, _ctx: &mut Context<JobFsm>, _job: &Job) -> EntryResult {
        Ok(())
    }
}

fn main() {
    let _ = Env;
    for status in [JobStatus::New, JobStatus::Running, JobStatus::Retrying] {
        assert_eq!(JobFsm::entry_func(status), Some("work"));
    }
    assert_eq!(JobFsm::entry_func(JobStatus::Waiting), Some("wait"));
    let funcs = JobFsm::table().entry_funcs;
    assert_eq!(funcs.len(), 2, "one entry per func");
    assert_eq!(funcs[0].name, "work");
    let paths: Vec<_> = funcs[0].states.iter().map(|info| info.path).collect();
    assert_eq!(
        paths,
        ["JobStatus::New", "JobStatus::Running", "JobStatus::Retrying"]
    );
}
