//! The committed `docs/retrievalprovider.mmd` and `docs/retrievalprovider.puml` are generated
//! from the Rust table and up to date; the diagram has the structure of the one go-fil-markets
//! publishes for this machine; and the table analysis finds exactly the legacy
//! `BlocksComplete` state.
//!
//! Regenerate the files after changing the table with
//! `UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test diagram_up_to_date`, or with
//! `cargo run -p fsm-examples --bin fsm-diagram -- retrievalprovider mermaid > docs/retrievalprovider.mmd`
//! (and `plantuml > docs/retrievalprovider.puml`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use fsm_runtime::Machine;
use fsm_runtime::analysis::{Finding, analyze};
use fsm_runtime::diagram::{self, Format};
use retrieval_provider::DealStatus;
use retrieval_provider::machine::ProviderFsm;

/// The diagram as committed under `docs/`, drawn from `DealStatusNew` like Go's `docsgen`.
fn generated(format: Format) -> String {
    diagram::render(format, ProviderFsm::table(), &[DealStatus::New])
}

fn check_up_to_date(format: Format) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "docs",
        &format!("retrievalprovider.{}", format.extension()),
    ]
    .iter()
    .collect();
    let actual = generated(format);
    if std::env::var_os("UPDATE_DIAGRAMS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == actual,
        "{} is out of date with the provider table. Regenerate it with:\n  \
         UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test diagram_up_to_date\n\
         or: cargo run -p fsm-examples --bin fsm-diagram -- retrievalprovider {} > docs/retrievalprovider.{}",
        path.display(),
        format.name(),
        format.extension(),
    );
}

#[test]
fn mermaid_file_is_up_to_date() {
    check_up_to_date(Format::Mermaid);
}

#[test]
fn plantuml_file_is_up_to_date() {
    check_up_to_date(Format::PlantUml);
}

/// The Mermaid text split into the line kinds of Go's generator.
#[derive(Default)]
struct Parsed {
    states: Vec<String>,
    entry_funcs: Vec<(String, String)>,
    starts: Vec<String>,
    any_state_notes: Vec<(String, Vec<String>)>,
    edges: Vec<(String, String, String)>,
    just_record_notes: Vec<(String, Vec<String>)>,
    ends: Vec<String>,
}

fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    assert_eq!(lines.next(), Some("stateDiagram-v2"));
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("state \"") {
            let (label, id) = rest.split_once("\" as ").unwrap();
            assert_eq!(label, id, "provider labels are identifiers already");
            parsed.states.push(id.to_owned());
        } else if let Some(of) = line.strip_prefix("note right of ") {
            let heading = lines.next().unwrap();
            let mut items = Vec::new();
            for item in lines.by_ref() {
                if item == "end note" {
                    break;
                }
                items.push(item.to_owned());
            }
            if heading.starts_with("Recorded here without a state change") {
                parsed.just_record_notes.push((of.to_owned(), items));
            } else {
                assert!(
                    heading.starts_with("Not drawn: accepted in every non-final state"),
                    "{heading}"
                );
                parsed.any_state_notes.push((of.to_owned(), items));
            }
        } else if let Some(state) = line.strip_prefix("[*] --> ") {
            parsed.starts.push(state.to_owned());
        } else if let Some(state) = line.strip_suffix(" --> [*]") {
            parsed.ends.push(state.to_owned());
        } else if let Some((from, rest)) = line.split_once(" --> ") {
            let (to, event) = rest.split_once(" : ").unwrap();
            parsed
                .edges
                .push((from.to_owned(), to.to_owned(), event.to_owned()));
        } else if let Some((state, func)) = line.split_once(" : on entry runs ") {
            parsed.entry_funcs.push((state.to_owned(), func.to_owned()));
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    parsed
}

fn owned<const N: usize>(list: [&str; N]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// go-fil-markets' `docs/retrievalprovider.mmd`, with our table's finality added.
#[test]
fn diagram_has_the_structure_go_fil_markets_publishes() {
    let parsed = parse(&generated(Format::Mermaid));

    assert_eq!(
        parsed.states,
        owned([
            "DealStatusNew",
            "DealStatusUnsealing",
            "DealStatusUnsealed",
            "DealStatusFundsNeededUnseal",
            "DealStatusFailing",
            "DealStatusFundsNeeded",
            "DealStatusOngoing",
            "DealStatusFundsNeededLastPayment",
            "DealStatusCompleted",
            "DealStatusErrored",
            "DealStatusBlocksComplete",
            "DealStatusFinalizing",
            "DealStatusCompleting",
            "DealStatusCancelling",
            "DealStatusCancelled",
        ])
    );

    let entry: Vec<_> = parsed
        .entry_funcs
        .iter()
        .map(|(s, f)| (s.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        entry,
        [
            ("DealStatusUnsealing", "unseal_data"),
            ("DealStatusUnsealed", "unpause_deal"),
            ("DealStatusFundsNeededUnseal", "update_funding"),
            ("DealStatusFailing", "cancel_deal"),
            ("DealStatusFundsNeeded", "update_funding"),
            ("DealStatusFundsNeededLastPayment", "update_funding"),
            ("DealStatusCompleting", "cleanup_deal"),
            ("DealStatusCancelling", "cancel_deal"),
        ]
    );

    assert_eq!(parsed.starts, owned(["DealStatusNew"]));

    assert_eq!(parsed.any_state_notes.len(), 1);
    let (anchor, events) = &parsed.any_state_notes[0];
    assert_eq!(anchor, "DealStatusNew");
    assert_eq!(
        *events,
        owned([
            "ProviderEventProcessPayment: no state change (the entry func runs again)",
            "ProviderEventComplete: moves to DealStatusCompleting",
            "ProviderEventDataTransferError: moves to DealStatusErrored",
            "ProviderEventMultiStoreError: moves to DealStatusErrored",
            "ProviderEventClientCancelled: moves to DealStatusCancelling",
        ])
    );

    let edges: Vec<_> = parsed
        .edges
        .iter()
        .map(|(from, to, event)| {
            (
                from.trim_start_matches("DealStatus"),
                to.trim_start_matches("DealStatus"),
                event.trim_start_matches("ProviderEvent"),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("New", "New", "Open"),
            ("New", "Unsealing", "DealAccepted"),
            ("FundsNeededUnseal", "FundsNeededUnseal", "DealAccepted"),
            ("Unsealing", "Failing", "UnsealError"),
            ("Unsealing", "Unsealed", "UnsealComplete"),
            ("Unsealed", "Ongoing", "BlockSent"),
            ("Ongoing", "Ongoing", "BlockSent"),
            ("New", "FundsNeededUnseal", "PaymentRequested"),
            ("Unsealed", "FundsNeeded", "PaymentRequested"),
            ("Ongoing", "FundsNeeded", "PaymentRequested"),
            ("Unsealed", "FundsNeededLastPayment", "LastPaymentRequested"),
            ("Ongoing", "FundsNeededLastPayment", "LastPaymentRequested"),
            ("FundsNeededUnseal", "Failing", "SaveVoucherFailed"),
            ("FundsNeeded", "Failing", "SaveVoucherFailed"),
            ("FundsNeededLastPayment", "Failing", "SaveVoucherFailed"),
            (
                "FundsNeededUnseal",
                "FundsNeededUnseal",
                "PartialPaymentReceived"
            ),
            ("FundsNeeded", "FundsNeeded", "PartialPaymentReceived"),
            (
                "FundsNeededLastPayment",
                "FundsNeededLastPayment",
                "PartialPaymentReceived"
            ),
            ("FundsNeededUnseal", "Unsealing", "PaymentReceived"),
            ("FundsNeeded", "Ongoing", "PaymentReceived"),
            ("FundsNeededLastPayment", "Finalizing", "PaymentReceived"),
            ("Completing", "Completed", "CleanupComplete"),
            ("Failing", "Errored", "CancelComplete"),
            ("Cancelling", "Cancelled", "CancelComplete"),
        ]
    );

    let records: Vec<_> = parsed
        .just_record_notes
        .iter()
        .map(|(state, events)| (state.as_str(), events.clone()))
        .collect();
    assert_eq!(
        records,
        [
            ("DealStatusFailing", owned(["ProviderEventClientCancelled"])),
            (
                "DealStatusFundsNeeded",
                owned(["ProviderEventPaymentRequested"])
            ),
            ("DealStatusOngoing", owned(["ProviderEventPaymentReceived"])),
            (
                "DealStatusBlocksComplete",
                owned(["ProviderEventPaymentReceived"])
            ),
            (
                "DealStatusFinalizing",
                owned(["ProviderEventPaymentReceived"])
            ),
            (
                "DealStatusCancelling",
                owned(["ProviderEventClientCancelled"])
            ),
        ]
    );

    // Go's published file has none: `ProviderFSMParameterSpec` omits `FinalityStates`.
    assert_eq!(
        parsed.ends,
        owned([
            "DealStatusErrored",
            "DealStatusCompleted",
            "DealStatusCancelled"
        ])
    );
}

#[test]
fn plantuml_has_the_same_body() {
    let mermaid = generated(Format::Mermaid);
    let plantuml = generated(Format::PlantUml);
    let body: Vec<_> = plantuml.lines().collect();
    assert_eq!(
        (body.first(), body.last()),
        (Some(&"@startuml"), Some(&"@enduml"))
    );
    assert_eq!(
        mermaid.lines().skip(1).collect::<Vec<_>>(),
        body[1..body.len() - 1]
    );
}

/// The analysis on the provider table finds one thing: the legacy `BlocksComplete` state,
/// which `PaymentReceived` still records in but no event enters. Everything else is reachable
/// from `New`, every non-final state can reach a final one (`DataTransferError` goes to
/// `Errored` from anywhere), no `FromAny` is shadowed, nothing leaves a final state and every
/// entry func can run.
#[test]
fn analysis_finds_only_the_legacy_blocks_complete_state() {
    let analysis = analyze(ProviderFsm::table(), &[DealStatus::New]);
    assert_eq!(
        analysis.findings,
        [Finding::Unreachable {
            state: DealStatus::BlocksComplete
        }]
    );
    assert_eq!(analysis.states.len(), 15);
}
