//! The committed diagrams are generated from the Rust table and up to date: this crate's
//! `docs/retrievalprovider.mmd` (embedded in the crate documentation, so it must live inside
//! the package) and, when the crate is built inside its repository, the repository's
//! `docs/retrievalprovider.mmd` (the same text) and `docs/retrievalprovider.puml`. Also: the diagram has the structure of the one go-fil-markets publishes for this
//! machine, and the table analysis finds exactly the legacy `BlocksComplete` state.
//!
//! Regenerate the files after changing the table with
//! `FSM_UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test diagram_up_to_date`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fsm_runtime::Machine;
use fsm_runtime::analysis::{Finding, analyze};
use fsm_runtime::diagram::{self, Format};
use retrieval_provider::DealStatus;
use retrieval_provider::machine::ProviderFsm;

/// The diagram as committed, drawn from `DealStatusNew` like Go's `docsgen`.
fn generated(format: Format) -> String {
    diagram::render(format, ProviderFsm::table(), &[DealStatus::New])
}

/// `docs/retrievalprovider.<ext>` under `dir`.
fn diagram_file(dir: &Path, format: Format) -> PathBuf {
    dir.join("docs")
        .join(format!("retrievalprovider.{}", format.extension()))
}

/// The repository root, when the crate is built inside its repository (a published copy of
/// the crate has no repository around it, and only its own file to check).
fn repository_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("docs").is_dir().then(|| root.to_owned())
}

fn check(path: &Path, format: Format) {
    if let Err(error) = diagram::check_or_update(path, &generated(format)) {
        panic!("{error}");
    }
}

/// One test for all files, so that `FSM_UPDATE_DIAGRAMS=1` never has a test reading a file
/// that another is writing.
#[test]
fn diagram_files_are_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_copy = diagram_file(crate_dir, Format::Mermaid);
    check(&crate_copy, Format::Mermaid);

    let Some(root) = repository_root() else {
        return;
    };
    for format in Format::ALL {
        check(&diagram_file(&root, format), format);
    }
    // Implied by the checks above, but names the pair that drifted apart.
    let read = |path: &Path| std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    assert!(
        read(&crate_copy) == read(&diagram_file(&root, Format::Mermaid)),
        "retrieval-provider/docs/retrievalprovider.mmd and docs/retrievalprovider.mmd differ; \
         regenerate both with FSM_UPDATE_DIAGRAMS=1 cargo test -p retrieval-provider --test \
         diagram_up_to_date"
    );
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
