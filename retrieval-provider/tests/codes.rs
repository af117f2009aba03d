//! Code/name tables: all 35 deal statuses and all 20 provider events match Go.

use retrieval_provider::{DealStatus, ProviderEvent, UnknownDealStatus, UnknownProviderEvent};

/// Go's `DealStatuses` map (retrievalmarket/dealstatus.go), in code order.
const GO_STATUS_NAMES: [&str; 35] = [
    "DealStatusNew",
    "DealStatusUnsealing",
    "DealStatusUnsealed",
    "DealStatusWaitForAcceptance",
    "DealStatusPaymentChannelCreating",
    "DealStatusPaymentChannelAddingFunds",
    "DealStatusAccepted",
    "DealStatusFundsNeededUnseal",
    "DealStatusFailing",
    "DealStatusRejected",
    "DealStatusFundsNeeded",
    "DealStatusSendFunds",
    "DealStatusSendFundsLastPayment",
    "DealStatusOngoing",
    "DealStatusFundsNeededLastPayment",
    "DealStatusCompleted",
    "DealStatusDealNotFound",
    "DealStatusErrored",
    "DealStatusBlocksComplete",
    "DealStatusFinalizing",
    "DealStatusCompleting",
    "DealStatusCheckComplete",
    "DealStatusCheckFunds",
    "DealStatusInsufficientFunds",
    "DealStatusPaymentChannelAllocatingLane",
    "DealStatusCancelling",
    "DealStatusCancelled",
    "DealStatusRetryLegacy",
    "DealStatusWaitForAcceptanceLegacy",
    "DealStatusWaitingForLastBlocks",
    "DealStatusPaymentChannelAddingInitialFunds",
    "DealStatusErroring",
    "DealStatusRejecting",
    "DealStatusDealNotFoundCleanup",
    "DealStatusFinalizingBlockstore",
];

/// Go's `ProviderEvents` map, in code order.
const GO_EVENT_NAMES: [&str; 20] = [
    "ProviderEventOpen",
    "ProviderEventDealNotFound",
    "ProviderEventDealRejected",
    "ProviderEventDealAccepted",
    "ProviderEventBlockSent",
    "ProviderEventBlocksCompleted",
    "ProviderEventPaymentRequested",
    "ProviderEventSaveVoucherFailed",
    "ProviderEventPartialPaymentReceived",
    "ProviderEventPaymentReceived",
    "ProviderEventComplete",
    "ProviderEventUnsealError",
    "ProviderEventUnsealComplete",
    "ProviderEventDataTransferError",
    "ProviderEventCancelComplete",
    "ProviderEventCleanupComplete",
    "ProviderEventMultiStoreError",
    "ProviderEventClientCancelled",
    "ProviderEventLastPaymentRequested",
    "ProviderEventProcessPayment",
];

#[test]
fn every_status_has_gos_code_and_name() {
    assert_eq!(DealStatus::ALL.len(), 35);
    for (code, go_name) in GO_STATUS_NAMES.iter().enumerate() {
        let code = code as u64;
        let status = DealStatus::from_code(code).expect("codes 0-34 exist");
        assert_eq!(status.code(), code);
        assert_eq!(u64::from(status), code);
        assert_eq!(status as u64, code, "repr(u64) discriminant");
        assert_eq!(status.name(), *go_name);
        assert_eq!(status.to_string(), *go_name);
        assert_eq!(DealStatus::name_of_code(code), *go_name);
        assert_eq!(DealStatus::try_from(code), Ok(status));
        assert_eq!(DealStatus::ALL[code as usize], status);
    }
}

#[test]
fn status_order_is_code_order() {
    assert!(DealStatus::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn status_29_keeps_gos_name_quirk() {
    assert_eq!(
        DealStatus::ClientWaitingForLastBlocks.to_string(),
        "DealStatusWaitingForLastBlocks"
    );
}

#[test]
fn unknown_status_codes() {
    for code in [35, 36, 1000, u64::MAX] {
        assert_eq!(DealStatus::from_code(code), None);
        assert_eq!(DealStatus::try_from(code), Err(UnknownDealStatus(code)));
        assert_eq!(
            DealStatus::name_of_code(code),
            format!("DealStatusUnknown - {code}")
        );
    }
}

#[test]
fn terminal_predicates_match_go() {
    let errors: Vec<_> = DealStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.is_terminal_error())
        .collect();
    assert_eq!(
        errors,
        [
            DealStatus::Failing,
            DealStatus::Rejected,
            DealStatus::DealNotFound
        ]
    );
    let successes: Vec<_> = DealStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.is_terminal_success())
        .collect();
    assert_eq!(successes, [DealStatus::Completed]);
    assert!(!DealStatus::Errored.is_terminal_error());
}

#[test]
fn every_event_has_gos_code_and_name() {
    assert_eq!(ProviderEvent::ALL.len(), 20);
    for (code, go_name) in GO_EVENT_NAMES.iter().enumerate() {
        let code = code as u64;
        let event = ProviderEvent::from_code(code).expect("codes 0-19 exist");
        assert_eq!(event.code(), code);
        assert_eq!(event.name(), *go_name);
        assert_eq!(event.to_string(), *go_name);
        assert_eq!(ProviderEvent::try_from(code), Ok(event));
        assert_eq!(ProviderEvent::ALL[code as usize], event);
    }
    assert!(ProviderEvent::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ProviderEvent::from_code(20), None);
    assert_eq!(ProviderEvent::try_from(20), Err(UnknownProviderEvent(20)));
}

#[test]
fn unregistered_events_exist_with_their_codes() {
    assert_eq!(ProviderEvent::DealNotFound.code(), 1);
    assert_eq!(ProviderEvent::DealRejected.code(), 2);
    assert_eq!(ProviderEvent::BlocksCompleted.code(), 5);
}
