// TODO(lead): shows syn's "expected identifier, found keyword `struct`": the keyword is
// parsed as `Ident`, which rejects keywords before parse.rs's "expected `machine`" check runs.
// Expected: that check's message (parse the word with `Ident::parse_any`). Move to ../fail/ when
// fixed.
// An invocation that does not start with `machine` says what it expected.
use fsm_runtime::fsm;

fsm! {
    pub struct JobFsm {
        state: u32,
    }
}

fn main() {}
