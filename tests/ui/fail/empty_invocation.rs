// An empty invocation says what an invocation starts with.
use fsm_runtime::fsm;

fsm! {}

fn main() {}
