// An invocation that does not start with `machine` says what it expected.
use fsm_runtime::fsm;

fsm! {
    pub struct JobFsm {
        state: u32,
    }
}

fn main() {}
