//! The provider table through the pure transition function: table-level vectors (one test per
//! notable transition of Go's table), every (event, status) pair against a transcription of
//! Go's `ProviderEvents`, and the static description (event order, finality, entry funcs).

mod provider_fixtures;

use fsm_runtime::table::Destination;
use fsm_runtime::{Machine, Outcome};
use provider_fixtures::{channel_id, make_deal_state, tokens};
use retrieval_provider::machine::{ProviderFsm, ProviderInput};
use retrieval_provider::{DealStatus, ProviderDealState, ProviderError, ProviderEvent};

use DealStatus as S;

fn transition(deal: &mut ProviderDealState, input: ProviderInput) -> Outcome<ProviderFsm> {
    <ProviderFsm as Machine>::transition(deal, input)
}

/// One input per declared event, in table order.
fn one_of_each() -> Vec<ProviderInput> {
    vec![
        ProviderInput::Open,
        ProviderInput::DealAccepted(channel_id()),
        ProviderInput::UnsealError(ProviderError::new("unseal failed")),
        ProviderInput::UnsealComplete,
        ProviderInput::BlockSent,
        ProviderInput::PaymentRequested,
        ProviderInput::LastPaymentRequested,
        ProviderInput::SaveVoucherFailed(ProviderError::new("save failed")),
        ProviderInput::PartialPaymentReceived(tokens(7)),
        ProviderInput::PaymentReceived(tokens(7)),
        ProviderInput::ProcessPayment,
        ProviderInput::Complete,
        ProviderInput::CleanupComplete,
        ProviderInput::CancelComplete,
        ProviderInput::DataTransferError(ProviderError::new("transfer failed")),
        ProviderInput::MultiStoreError(ProviderError::new("store failed")),
        ProviderInput::ClientCancelled,
    ]
}

// ---- table-level vectors -----------------------------------------------------------------

#[test]
fn open_in_new_stays_and_resets_funds() {
    let mut deal = make_deal_state(S::New);
    let outcome = transition(&mut deal, ProviderInput::Open);
    assert!(matches!(
        outcome,
        Outcome::Stayed {
            event: ProviderEvent::Open,
            status: S::New
        }
    ));
    assert_eq!(outcome.scheduled_entry(), Some(S::New));
    assert_eq!(ProviderFsm::entry_func(S::New), None);
    assert!(deal.funds_received.is_zero());
    assert_eq!(deal.status, S::New);
}

#[test]
fn deal_accepted_in_new_moves_to_unsealing_and_records_the_channel() {
    let mut deal = make_deal_state(S::New);
    let outcome = transition(&mut deal, ProviderInput::DealAccepted(channel_id()));
    assert!(matches!(
        outcome,
        Outcome::Moved {
            event: ProviderEvent::DealAccepted,
            from: S::New,
            to: S::Unsealing
        }
    ));
    assert_eq!(deal.status, S::Unsealing);
    assert_eq!(deal.channel_id, Some(channel_id()));
}

#[test]
fn deal_accepted_in_funds_needed_unseal_stays_and_reruns_update_funding() {
    let mut deal = make_deal_state(S::FundsNeededUnseal);
    let outcome = transition(&mut deal, ProviderInput::DealAccepted(channel_id()));
    assert!(matches!(
        outcome,
        Outcome::Stayed {
            event: ProviderEvent::DealAccepted,
            status: S::FundsNeededUnseal
        }
    ));
    assert_eq!(deal.channel_id, Some(channel_id()));
    let scheduled = outcome.scheduled_entry().and_then(ProviderFsm::entry_func);
    assert_eq!(scheduled, Some("update_funding"));
}

#[test]
fn payment_requested_in_funds_needed_only_records() {
    let mut deal = make_deal_state(S::FundsNeeded);
    let before = deal.clone();
    let outcome = transition(&mut deal, ProviderInput::PaymentRequested);
    assert!(matches!(
        outcome,
        Outcome::Recorded {
            event: ProviderEvent::PaymentRequested,
            status: S::FundsNeeded
        }
    ));
    assert_eq!(outcome.scheduled_entry(), None);
    assert_eq!(deal, before);
}

#[test]
fn payment_received_in_ongoing_records_and_adds_the_funds() {
    let mut deal = make_deal_state(S::Ongoing);
    let outcome = transition(&mut deal, ProviderInput::PaymentReceived(tokens(5)));
    assert!(matches!(
        outcome,
        Outcome::Recorded {
            event: ProviderEvent::PaymentReceived,
            status: S::Ongoing
        }
    ));
    assert_eq!(deal.funds_received, tokens(2_500_005));
}

#[test]
fn last_payment_requested_in_unsealed_moves_to_funds_needed_last_payment() {
    let mut deal = make_deal_state(S::Unsealed);
    let outcome = transition(&mut deal, ProviderInput::LastPaymentRequested);
    assert!(matches!(
        outcome,
        Outcome::Moved {
            from: S::Unsealed,
            to: S::FundsNeededLastPayment,
            ..
        }
    ));
}

#[test]
fn client_cancelled_in_ongoing_moves_to_cancelling_with_a_message() {
    let mut deal = make_deal_state(S::Ongoing);
    let outcome = transition(&mut deal, ProviderInput::ClientCancelled);
    assert!(matches!(
        outcome,
        Outcome::Moved {
            from: S::Ongoing,
            to: S::Cancelling,
            ..
        }
    ));
    assert_eq!(deal.message, "Client cancelled retrieval");
}

#[test]
fn client_cancelled_in_failing_records_and_keeps_the_message() {
    let mut deal = make_deal_state(S::Failing);
    deal.message = "unseal failed".to_owned();
    let outcome = transition(&mut deal, ProviderInput::ClientCancelled);
    assert!(matches!(
        outcome,
        Outcome::Recorded {
            event: ProviderEvent::ClientCancelled,
            status: S::Failing
        }
    ));
    assert_eq!(deal.message, "unseal failed");
}

#[test]
fn client_cancelled_in_cancelling_records_but_overwrites_the_message() {
    let mut deal = make_deal_state(S::Cancelling);
    deal.message = "earlier".to_owned();
    let outcome = transition(&mut deal, ProviderInput::ClientCancelled);
    assert!(matches!(
        outcome,
        Outcome::Recorded {
            event: ProviderEvent::ClientCancelled,
            status: S::Cancelling
        }
    ));
    assert_eq!(deal.message, "Client cancelled retrieval");
}

#[test]
fn complete_in_failing_moves_to_completing() {
    let mut deal = make_deal_state(S::Failing);
    let outcome = transition(&mut deal, ProviderInput::Complete);
    assert!(matches!(
        outcome,
        Outcome::Moved {
            event: ProviderEvent::Complete,
            from: S::Failing,
            to: S::Completing
        }
    ));
}

#[test]
fn unseal_complete_in_unsealed_is_invalid_and_changes_nothing() {
    let mut deal = make_deal_state(S::Unsealed);
    let before = deal.clone();
    let outcome = transition(&mut deal, ProviderInput::UnsealComplete);
    match outcome {
        Outcome::Invalid { status, input } => {
            assert_eq!(status, S::Unsealed);
            assert_eq!(input, ProviderInput::UnsealComplete);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(deal, before);
}

#[test]
fn last_payment_requested_in_funds_needed_is_invalid() {
    let mut deal = make_deal_state(S::FundsNeeded);
    let before = deal.clone();
    let outcome = transition(&mut deal, ProviderInput::LastPaymentRequested);
    assert!(matches!(
        outcome,
        Outcome::Invalid {
            status: S::FundsNeeded,
            input: ProviderInput::LastPaymentRequested
        }
    ));
    assert_eq!(deal, before);
}

#[test]
fn final_statuses_reject_every_input() {
    for status in [S::Errored, S::Completed, S::Cancelled] {
        for input in one_of_each() {
            let mut deal = make_deal_state(status);
            let before = deal.clone();
            let code = input.code();
            match transition(&mut deal, input.clone()) {
                Outcome::AlreadyFinal {
                    status: rejected_in,
                    input: returned,
                } => {
                    assert_eq!(rejected_in, status);
                    assert_eq!(returned, input);
                }
                other => panic!("{code:?} in {status:?}: expected AlreadyFinal, got {other:?}"),
            }
            assert_eq!(deal, before, "{code:?} in {status:?} changed the deal");
        }
    }
}

#[test]
fn events_outside_the_table_have_no_input() {
    let declared: Vec<ProviderEvent> = ProviderFsm::table()
        .events
        .iter()
        .map(|e| e.event)
        .collect();
    for undeclared in [
        ProviderEvent::DealNotFound,
        ProviderEvent::DealRejected,
        ProviderEvent::BlocksCompleted,
    ] {
        assert!(
            !declared.contains(&undeclared),
            "{undeclared:?} is declared"
        );
        assert!(ProviderFsm::table().event(undeclared).is_none());
    }
    // Every other event code has an input, and `code()` names it.
    let codes: Vec<ProviderEvent> = one_of_each().iter().map(ProviderInput::code).collect();
    assert_eq!(codes, declared);
}

// ---- every (event, status) pair against Go's `ProviderEvents` table ---------------------------------------------

/// Where Go's table says an event goes from a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    To(DealStatus),
    NoChange,
    JustRecord,
    Invalid,
}

/// Go's `ProviderEvents` table (`provider_fsm.go`), transcribed independently of the `fsm!`
/// declaration.
fn spec(event: ProviderEvent, status: DealStatus) -> Expect {
    use Expect::{Invalid, JustRecord, NoChange, To};
    use ProviderEvent as E;
    let funds_needed = [
        S::FundsNeededUnseal,
        S::FundsNeeded,
        S::FundsNeededLastPayment,
    ];
    match event {
        E::Open => match status {
            S::New => NoChange,
            _ => Invalid,
        },
        E::DealAccepted => match status {
            S::FundsNeededUnseal => NoChange,
            S::New => To(S::Unsealing),
            _ => Invalid,
        },
        E::UnsealError => match status {
            S::Unsealing => To(S::Failing),
            _ => Invalid,
        },
        E::UnsealComplete => match status {
            S::Unsealing => To(S::Unsealed),
            _ => Invalid,
        },
        E::BlockSent => match status {
            S::Ongoing => NoChange,
            S::Unsealed => To(S::Ongoing),
            _ => Invalid,
        },
        E::PaymentRequested => match status {
            S::Ongoing | S::Unsealed => To(S::FundsNeeded),
            S::FundsNeeded => JustRecord,
            S::New => To(S::FundsNeededUnseal),
            _ => Invalid,
        },
        E::LastPaymentRequested => match status {
            S::Ongoing | S::Unsealed => To(S::FundsNeededLastPayment),
            _ => Invalid,
        },
        E::SaveVoucherFailed if funds_needed.contains(&status) => To(S::Failing),
        E::PartialPaymentReceived if funds_needed.contains(&status) => NoChange,
        E::SaveVoucherFailed | E::PartialPaymentReceived => Invalid,
        E::PaymentReceived => match status {
            S::FundsNeeded => To(S::Ongoing),
            S::FundsNeededLastPayment => To(S::Finalizing),
            S::FundsNeededUnseal => To(S::Unsealing),
            S::BlocksComplete | S::Ongoing | S::Finalizing => JustRecord,
            _ => Invalid,
        },
        E::ProcessPayment => NoChange,
        E::Complete => To(S::Completing),
        E::CleanupComplete => match status {
            S::Completing => To(S::Completed),
            _ => Invalid,
        },
        E::CancelComplete => match status {
            S::Cancelling => To(S::Cancelled),
            S::Failing => To(S::Errored),
            _ => Invalid,
        },
        E::DataTransferError | E::MultiStoreError => To(S::Errored),
        E::ClientCancelled => match status {
            S::Failing | S::Cancelling => JustRecord,
            _ => To(S::Cancelling),
        },
        E::DealNotFound | E::DealRejected | E::BlocksCompleted => Invalid,
    }
}

#[test]
fn every_event_in_every_status_does_what_the_spec_table_says() {
    let mut checked = 0;
    for &status in DealStatus::ALL {
        if ProviderFsm::is_final(status) {
            continue;
        }
        for input in one_of_each() {
            let event = input.code();
            let mut deal = make_deal_state(status);
            let before = deal.clone();
            let outcome = transition(&mut deal, input);
            let got = match outcome {
                Outcome::Moved { from, to, .. } => {
                    assert_eq!(from, status);
                    Expect::To(to)
                }
                Outcome::Stayed { status: kept, .. } => {
                    assert_eq!(kept, status);
                    Expect::NoChange
                }
                Outcome::Recorded { status: kept, .. } => {
                    assert_eq!(kept, status);
                    Expect::JustRecord
                }
                Outcome::Invalid { .. } => {
                    assert_eq!(
                        deal, before,
                        "invalid {event:?} in {status:?} changed the deal"
                    );
                    Expect::Invalid
                }
                other => panic!("{event:?} in {status:?}: unexpected {other:?}"),
            };
            assert_eq!(got, spec(event, status), "{event:?} in {status:?}");
            assert_eq!(
                deal.status,
                match got {
                    Expect::To(to) => to,
                    _ => status,
                }
            );
            checked += 1;
        }
    }
    assert_eq!(checked, (DealStatus::ALL.len() - 3) * 17);
}

#[test]
fn error_events_record_the_error_text() {
    let cases = [
        (
            S::Unsealing,
            ProviderInput::UnsealError(ProviderError::new("a")),
        ),
        (
            S::FundsNeeded,
            ProviderInput::SaveVoucherFailed(ProviderError::new("b")),
        ),
        (
            S::Ongoing,
            ProviderInput::DataTransferError(ProviderError::new("c")),
        ),
        (
            S::Completing,
            ProviderInput::MultiStoreError(ProviderError::new("d")),
        ),
    ];
    for (status, input) in cases {
        let expected = match &input {
            ProviderInput::UnsealError(err)
            | ProviderInput::SaveVoucherFailed(err)
            | ProviderInput::DataTransferError(err)
            | ProviderInput::MultiStoreError(err) => err.message().to_owned(),
            other => panic!("not an error input: {other:?}"),
        };
        let mut deal = make_deal_state(status);
        assert!(transition(&mut deal, input).is_applied());
        assert_eq!(deal.message, expected);
    }
}

#[test]
fn partial_payment_adds_to_the_funds_and_reruns_update_funding() {
    let mut deal = make_deal_state(S::FundsNeededLastPayment);
    let outcome = transition(
        &mut deal,
        ProviderInput::PartialPaymentReceived(tokens(250_000)),
    );
    assert!(matches!(
        outcome,
        Outcome::Stayed {
            status: S::FundsNeededLastPayment,
            ..
        }
    ));
    assert_eq!(deal.funds_received, tokens(2_750_000));
}

#[test]
fn process_payment_reruns_the_entry_func_of_any_status() {
    for (status, func) in [
        (S::Unsealing, Some("unseal_data")),
        (S::Unsealed, Some("unpause_deal")),
        (S::FundsNeeded, Some("update_funding")),
        (S::Failing, Some("cancel_deal")),
        (S::Completing, Some("cleanup_deal")),
        (S::Ongoing, None),
    ] {
        let mut deal = make_deal_state(status);
        let outcome = transition(&mut deal, ProviderInput::ProcessPayment);
        assert_eq!(outcome.scheduled_entry(), Some(status));
        assert_eq!(ProviderFsm::entry_func(status), func, "{status:?}");
    }
}

// ---- the static description ----------------------------------------------------------------

#[test]
fn the_table_declares_go_s_seventeen_events_in_go_s_order() {
    let names: Vec<&str> = ProviderFsm::table().events.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "Open",
            "DealAccepted",
            "UnsealError",
            "UnsealComplete",
            "BlockSent",
            "PaymentRequested",
            "LastPaymentRequested",
            "SaveVoucherFailed",
            "PartialPaymentReceived",
            "PaymentReceived",
            "ProcessPayment",
            "Complete",
            "CleanupComplete",
            "CancelComplete",
            "DataTransferError",
            "MultiStoreError",
            "ClientCancelled",
        ]
    );
}

#[test]
fn the_recorded_error_events_share_record_error() {
    for info in ProviderFsm::table().events {
        let function = info.action.and_then(|action| action.function);
        let shared = matches!(
            info.event,
            ProviderEvent::UnsealError
                | ProviderEvent::SaveVoucherFailed
                | ProviderEvent::DataTransferError
                | ProviderEvent::MultiStoreError
        );
        assert_eq!(function.is_some(), shared, "{:?}", info.event);
        if let Some(function) = function {
            assert_eq!(function, "record_error");
            let payload = info.action.map(|action| action.payload).unwrap_or_default();
            assert_eq!(payload.len(), 1);
            assert_eq!(payload[0].ty, "ProviderError");
        }
    }
}

#[test]
fn client_cancelled_lists_its_exceptions_before_from_any() {
    let info = ProviderFsm::table()
        .event(ProviderEvent::ClientCancelled)
        .expect("declared");
    let destinations: Vec<_> = info.transitions.iter().map(|t| t.destination).collect();
    assert!(matches!(
        destinations.as_slice(),
        [Destination::JustRecord, Destination::JustRecord, Destination::To(to)] if to.status == S::Cancelling
    ));
}

#[test]
fn finality_entry_funcs_and_mode_match_go() {
    let table = ProviderFsm::table();
    let finals: Vec<DealStatus> = table.finality_states.iter().map(|s| s.status).collect();
    assert_eq!(finals, [S::Errored, S::Completed, S::Cancelled]);
    assert!(table.consume_all_events_before_entry_funcs);
    const { assert!(<ProviderFsm as Machine>::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS) };

    let expected = [
        (S::Unsealing, "unseal_data"),
        (S::Unsealed, "unpause_deal"),
        (S::FundsNeeded, "update_funding"),
        (S::FundsNeededUnseal, "update_funding"),
        (S::FundsNeededLastPayment, "update_funding"),
        (S::Failing, "cancel_deal"),
        (S::Cancelling, "cancel_deal"),
        (S::Completing, "cleanup_deal"),
    ];
    let registered: usize = table.entry_funcs.iter().map(|f| f.states.len()).sum();
    assert_eq!(registered, expected.len());
    for &status in DealStatus::ALL {
        let want = expected.iter().find(|(s, _)| *s == status).map(|(_, f)| *f);
        assert_eq!(ProviderFsm::entry_func(status), want, "{status:?}");
    }
}
