// The header names the state type by a module path while the action writes the short name.
use fsm_runtime::{Machine, fsm};

mod model {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Status {
        Draft,
        Sent,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Event {
        Send,
    }

    #[derive(Debug, Clone)]
    pub struct Rec {
        pub status: Status,
        pub to: String,
    }
}

use model::Rec;

fsm! {
    machine MailFsm {
        state: crate::model::Rec,
        status: crate::model::Status,
        event: crate::model::Event,
        input: MailInput,
        entry: MailEntry,
    }
    events {
        Event(model::Event::Send)
            .From(model::Status::Draft).To(model::Status::Sent)
            .Action(|rec: &mut Rec, to: String| {
                rec.to = to;
                Ok(())
            }),
    }
}

fn main() {
    let mut rec = Rec {
        status: model::Status::Draft,
        to: String::new(),
    };
    let _ = MailFsm::transition(&mut rec, MailInput::Send("ops@example.org".to_owned()));
    assert_eq!(rec.status, model::Status::Sent);
    assert_eq!(rec.to, "ops@example.org");
}
