//! UpdateFunding: all 18 cases of Go's `TestUpdateFunding`, with their exact
//! `ValidationResult`s, triggered events and final state, run through the harness.

mod provider_fixtures;

use provider_fixtures::{
    channel, error_response, fake_voucher, funding_deal, handlers, payment_voucher,
    proposal_voucher, response, tokens, vr,
};
use retrieval_provider::entry::funding_result;
use retrieval_provider::harness::{
    EnvCall, EnvSetup, MockError, NodeCall, NodeSetup, run_and_replay,
};
use retrieval_provider::machine::ProviderInput;
use retrieval_provider::{
    ChannelState, DealStatus, DtStatus, ProviderError, TokenAmount, ValidationResult,
};

use DealStatus::{
    Errored, Failing, Finalizing, FundsNeeded as FN, FundsNeededLastPayment as FNLP,
    FundsNeededUnseal as FNU, Ongoing, Unsealing,
};

/// One row of Go's `TestUpdateFunding`.
struct Case {
    name: &'static str,
    status: DealStatus,
    funds: u64,
    has_channel: bool,
    channel: Option<ChannelState>,
    env: EnvSetup,
    node: NodeSetup,
    triggered: Vec<ProviderInput>,
    final_status: DealStatus,
    final_funds: u64,
    message: &'static str,
    /// `None`: UpdateValidationStatus was not called.
    result: Option<ValidationResult>,
}

impl Case {
    fn new(name: &'static str, status: DealStatus, funds: u64) -> Self {
        Case {
            name,
            status,
            funds,
            has_channel: true,
            channel: None,
            env: EnvSetup::default(),
            node: NodeSetup::default(),
            triggered: vec![],
            final_status: status,
            final_funds: funds,
            message: "",
            result: None,
        }
    }

    fn channel(mut self, state: ChannelState) -> Self {
        self.channel = Some(state);
        self
    }

    /// SavePaymentVoucher answers `amount` (`None`: Go's nil amount, i.e. 0).
    fn saves(mut self, amount: Option<u64>) -> Self {
        self.node
            .saved_amounts
            .push_back(Ok(amount.map_or_else(TokenAmount::zero, tokens)));
        self
    }

    fn triggers(mut self, inputs: Vec<ProviderInput>) -> Self {
        self.triggered = inputs;
        self
    }

    fn ends(mut self, status: DealStatus, funds: u64, message: &'static str) -> Self {
        self.final_status = status;
        self.final_funds = funds;
        self.message = message;
        self
    }

    fn sends(mut self, result: ValidationResult) -> Self {
        self.result = Some(result);
        self
    }
}

fn err(message: &str) -> MockError {
    MockError::new(message)
}

fn perr(message: &str) -> ProviderError {
    ProviderError::new(message)
}

fn paid(amount: u64) -> ProviderInput {
    ProviderInput::PaymentReceived(tokens(amount))
}

fn partially_paid(amount: u64) -> ProviderInput {
    ProviderInput::PartialPaymentReceived(tokens(amount))
}

const RP: DtStatus = DtStatus::ResponderPaused;

fn cases() -> Vec<Case> {
    vec![
        Case {
            has_channel: false,
            ..Case::new("U1 when empty channel id does nothing", FNU, 0)
        },
        Case {
            env: EnvSetup {
                channel_state_error: Some(err("couldn't get channel state")),
                ..EnvSetup::default()
            },
            ..Case::new("U2 when error getting channel state, errors channel", FNU, 0)
        }
        .triggers(vec![ProviderInput::DataTransferError(perr("couldn't get channel state"))])
        .ends(Errored, 0, "couldn't get channel state"),
        Case::new("U3 when last voucher incorrect type, sends response", FNU, 0)
            .channel(channel(fake_voucher(), 0, DtStatus::Requested))
            .sends(vr(false, false, false, 0, Some(error_response("wrong voucher type")))),
        Case::new("U4 when received payment with nothing owed on unseal, updates status, forces pause", FNU, 0)
            .channel(channel(payment_voucher(), 0, RP))
            .saves(Some(500_000))
            .triggers(vec![paid(500_000)])
            .ends(Unsealing, 500_000, "")
            .sends(vr(true, true, true, 1000, None)),
        Case::new("U5 when received payment with nothing owed, updates data limits, funds, and status", FN, 500_000)
            .channel(channel(payment_voucher(), 1000, RP))
            .saves(Some(500_000))
            .triggers(vec![paid(500_000)])
            .ends(Ongoing, 1_000_000, "")
            .sends(vr(true, false, true, 2500, None)),
        Case::new("U6 when received payment with nothing owed on last payment, sends response, sets finalization false, updates status", FNLP, 1_000_000)
            .channel(channel(payment_voucher(), 2000, DtStatus::Finalizing))
            .saves(Some(500_000))
            .triggers(vec![paid(500_000)])
            .ends(Finalizing, 1_500_000, "")
            .sends(vr(true, false, false, 2500, Some(response(DealStatus::Completed, 0)))),
        Case::new("U7 when received payment with more owed on unseal, sends response, stays paused", FNU, 0)
            .channel(channel(payment_voucher(), 0, RP))
            .saves(Some(250_000))
            .triggers(vec![partially_paid(250_000)])
            .ends(FNU, 250_000, "")
            .sends(vr(true, true, true, 1000, Some(response(FNU, 250_000)))),
        Case::new("U8 when received payment with more owed, sends response and does not change data limit", FN, 500_000)
            .channel(channel(payment_voucher(), 1000, RP))
            .saves(Some(250_000))
            .triggers(vec![partially_paid(250_000)])
            .ends(FN, 750_000, "")
            .sends(vr(true, false, true, 1000, Some(response(FN, 250_000)))),
        Case::new("U9 when received payment with more owed on last payment, sends response and does not change finalization status", FNLP, 1_000_000)
            .channel(channel(payment_voucher(), 2000, DtStatus::Finalizing))
            .saves(Some(250_000))
            .triggers(vec![partially_paid(250_000)])
            .ends(FNLP, 1_250_000, "")
            .sends(vr(true, false, true, 2500, Some(response(FNLP, 250_000)))),
        Case::new("U10 when money owed with no payment on unseal, leaves request paused", FNU, 0)
            .channel(channel(proposal_voucher(), 0, RP))
            .sends(vr(true, true, true, 1000, None)),
        Case::new("U11 when money owed with no payment, sends response and does not change data limit", FN, 500_000)
            .channel(channel(payment_voucher(), 1000, RP))
            .saves(None)
            .sends(vr(true, false, true, 1000, Some(response(FN, 500_000)))),
        Case::new("U12 when no payment and money owed for last payment, sends response and does not change finalization status", FNLP, 1_000_000)
            .channel(channel(payment_voucher(), 2000, DtStatus::Finalizing))
            .saves(None)
            .sends(vr(true, false, true, 2500, Some(response(FNLP, 500_000)))),
        Case::new("U13 when surplus payment with nothing owed, updates data limits accordingly", FN, 500_000)
            .channel(channel(payment_voucher(), 1000, RP))
            .saves(Some(1_250_000))
            .triggers(vec![paid(1_250_000)])
            .ends(Ongoing, 1_750_000, "")
            .sends(vr(true, false, true, 4500, None)),
        Case::new("U14 when no money owed and no payment, updates data limits and status", FN, 1_000_000)
            .channel(channel(payment_voucher(), 1000, RP))
            .saves(None)
            .triggers(vec![paid(0)])
            .ends(Ongoing, 1_000_000, "")
            .sends(vr(true, false, true, 2500, None)),
        Case::new("U15 when no money owed and no payment on last payment, sends response, sets finalization false, updates status", FNLP, 1_500_000)
            .channel(channel(payment_voucher(), 2000, DtStatus::Finalizing))
            .saves(None)
            .triggers(vec![paid(0)])
            .ends(Finalizing, 1_500_000, "")
            .sends(vr(true, false, false, 2500, Some(response(DealStatus::Completed, 0)))),
        Case {
            node: NodeSetup {
                chain_head_error: Some(err("something went wrong")),
                ..NodeSetup::default()
            },
            ..Case::new("U16 get chain head error", FNU, 0)
        }
        .channel(channel(payment_voucher(), 0, DtStatus::Requested))
        .triggers(vec![ProviderInput::SaveVoucherFailed(perr("something went wrong"))])
        .ends(Failing, 0, "something went wrong")
        .sends(vr(false, false, false, 0, Some(error_response("something went wrong")))),
        Case {
            node: NodeSetup {
                saved_amounts: [Err(err("something went wrong"))].into(),
                ..NodeSetup::default()
            },
            ..Case::new("U17 save payment voucher error", FNU, 0)
        }
        .channel(channel(payment_voucher(), 0, DtStatus::Requested))
        .triggers(vec![ProviderInput::SaveVoucherFailed(perr("something went wrong"))])
        .ends(Failing, 0, "something went wrong")
        .sends(vr(false, false, false, 0, Some(error_response("something went wrong")))),
        Case {
            env: EnvSetup {
                update_validation_status_error: Some(err("something went wrong")),
                ..EnvSetup::default()
            },
            ..Case::new("U18 update validation status error", FN, 1_000_000)
        }
        .channel(channel(payment_voucher(), 1000, RP))
        .saves(None)
        .triggers(vec![paid(0), ProviderInput::DataTransferError(perr("something went wrong"))])
        .ends(Errored, 1_000_000, "something went wrong")
        .sends(vr(true, false, true, 2500, None)),
    ]
}

/// Runs one case and checks everything the Go test checks, plus the calls made.
fn check(case: Case) {
    let name = case.name;
    let mut env = case.env;
    env.channel_state = case.channel.clone();
    let handlers = handlers(env, case.node);
    let mut deal = funding_deal(case.status, case.funds);
    if !case.has_channel {
        deal.channel_id = None;
    }

    let (run, _) = run_and_replay(&handlers, &mut deal)
        .unwrap_or_else(|e| panic!("{name}: replay failed: {e}"));

    assert_eq!(run.func, Some("update_funding"), "{name}");
    assert_eq!(run.triggered, case.triggered, "{name}: triggered inputs");
    assert_eq!(deal.status, case.final_status, "{name}: final status");
    assert_eq!(
        deal.funds_received,
        tokens(case.final_funds),
        "{name}: final funds"
    );
    assert_eq!(deal.message, case.message, "{name}: final message");
    let results = handlers.env().validation_results();
    assert_eq!(
        results,
        case.result.into_iter().collect::<Vec<_>>(),
        "{name}: validation result"
    );

    // Node calls: only a payment voucher is saved, at the chain head, with no proof and an
    // expected amount of 0.
    let node_calls = handlers.env().mock_node().calls();
    let is_payment = case.channel.as_ref().is_some_and(|c| {
        c.last_voucher
            .as_ref()
            .is_some_and(|v| v.as_payment().is_some())
    });
    if !is_payment {
        assert!(node_calls.is_empty(), "{name}: node calls {node_calls:?}");
    } else {
        assert_eq!(node_calls.first(), Some(&NodeCall::GetChainHead), "{name}");
        for call in &node_calls[1..] {
            match call {
                NodeCall::SavePaymentVoucher {
                    proof,
                    expected_amount,
                    ..
                } => {
                    assert_eq!(proof, &None, "{name}");
                    assert!(expected_amount.is_zero(), "{name}");
                }
                other => panic!("{name}: unexpected node call {other:?}"),
            }
        }
    }
    if !case.has_channel {
        assert!(handlers.env().calls().is_empty(), "{name}");
    } else {
        assert_eq!(
            handlers.env().calls().first(),
            Some(&EnvCall::ChannelState(
                deal.channel_id.clone().unwrap_or_default()
            )),
            "{name}"
        );
    }
}

/// The case whose name starts with `id` (as "U4").
fn case(id: &str) -> Case {
    let prefix = format!("{id} ");
    cases()
        .into_iter()
        .find(|case| case.name.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// One `#[test]` per Go case, so that each reports on its own.
macro_rules! go_cases {
    ($($test:ident => $id:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check(case($id));
            }
        )*

        #[test]
        fn every_go_case_has_a_test() {
            let ids: Vec<&str> = vec![$($id),*];
            assert_eq!(ids.len(), 18);
            let names: Vec<&str> = cases().iter().map(|case| case.name).collect();
            assert_eq!(names.len(), 18);
            for (id, name) in ids.iter().zip(&names) {
                assert!(name.starts_with(&format!("{id} ")), "{id} vs {name}");
            }
        }
    };
}

go_cases! {
    u1_empty_channel_id_does_nothing => "U1",
    u2_channel_state_error_errors_the_deal => "U2",
    u3_wrong_voucher_type_sends_an_error_response => "U3",
    u4_unseal_paid_in_full_moves_to_unsealing_paused => "U4",
    u5_interval_paid_in_full_moves_to_ongoing => "U5",
    u6_last_payment_in_full_finalizes => "U6",
    u7_partial_unseal_payment_stays_paused => "U7",
    u8_partial_payment_keeps_the_data_limit => "U8",
    u9_partial_last_payment_keeps_finalization => "U9",
    u10_proposal_voucher_on_unseal_leaves_the_request_paused => "U10",
    u11_no_new_funds_resends_what_is_owed => "U11",
    u12_no_new_funds_on_last_payment_resends_what_is_owed => "U12",
    u13_surplus_payment_raises_the_data_limit => "U13",
    u14_nothing_owed_and_nothing_paid_moves_to_ongoing => "U14",
    u15_nothing_owed_on_last_payment_finalizes => "U15",
    u16_chain_head_error_fails_the_deal => "U16",
    u17_save_voucher_error_fails_the_deal => "U17",
    u18_update_validation_status_error_errors_the_deal => "U18",
}

#[test]
fn the_unseal_payment_alone_opens_the_first_interval() {
    // Worked arithmetic of U5 through the pure function: total 1,000,000, nothing owed at
    // 1000 bytes, and the next boundary above the 1000 bytes paid for is 2500.
    let deal = funding_deal(FN, 500_000);
    let funding = funding_result(
        &deal,
        &channel(payment_voucher(), 1000, RP),
        &tokens(500_000),
    );
    assert_eq!(funding.input, Some(paid(500_000)));
    assert_eq!(funding.result, vr(true, false, true, 2500, None));
}

#[test]
fn a_voucher_saved_twice_brings_nothing_the_second_time() {
    // Re-running UpdateFunding (ProcessPayment re-runs it) on the same voucher: the node
    // reports no new funds, so nothing more is credited and the amount owed is re-sent.
    let setup = EnvSetup {
        channel_state: Some(channel(payment_voucher(), 1000, RP)),
        ..EnvSetup::default()
    };
    let node = NodeSetup {
        saved_amounts: [Ok(tokens(250_000))].into(),
        ..NodeSetup::default()
    };
    let handlers = handlers(setup, node);
    let mut deal = funding_deal(FN, 500_000);
    run_and_replay(&handlers, &mut deal).expect("first run");
    let (second, _) = run_and_replay(&handlers, &mut deal).expect("second run");
    assert!(second.triggered.is_empty());
    assert_eq!(deal.funds_received, tokens(750_000));
    assert_eq!(
        handlers.env().validation_results(),
        [
            vr(true, false, true, 1000, Some(response(FN, 250_000))),
            vr(true, false, true, 1000, Some(response(FN, 250_000))),
        ]
    );
    assert_eq!(handlers.env().mock_node().saved_vouchers(), 2);
}
