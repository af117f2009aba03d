// TODO(lead): shows syn's "unexpected end of input, expected identifier" on the whole
// invocation. Expected: the macro's own message, "expected `machine`: an invocation starts with
// `pub machine Name { state: .., status: .., event: .., input: .., entry: .. }`".
// Move to ../fail/ when fixed.
// An empty invocation says what an invocation starts with.
use fsm_runtime::fsm;

fsm! {}

fn main() {}
