//! IR unit tests: DSL text in, expected IR value out.
//!
//! syn's `PartialEq` ignores spans, so expected values are written with `parse_quote!`.

use fsm_codegen::ir::{
    Action, ActionKind, Arm, Destination, EntryFunc, Group, PayloadParam, Sources,
};
use fsm_codegen::lower_to_ir;
use quote::quote;
use syn::parse_quote;

/// Wraps an `events { .. }` body (and optional trailing sections) in a standard header.
macro_rules! machine {
    ($($body:tt)*) => {
        lower_to_ir(quote! {
            pub machine M {
                state: Rec,
                status: S,
                event: E,
                input: MInput,
                entry: MEntry,
            }
            $($body)*
        })
    };
}

fn arm(source: syn::Path, destination: Destination) -> Arm {
    Arm {
        source,
        destination,
    }
}

#[test]
fn header_fields_and_defaults() {
    let machine = machine! { events { Event(E::Go).From(S::A).To(S::B) } }.unwrap();
    assert_eq!(machine.name, "M");
    assert_eq!(machine.state, parse_quote!(Rec));
    assert_eq!(machine.status, parse_quote!(S));
    assert_eq!(machine.event, parse_quote!(E));
    assert_eq!(machine.input, "MInput");
    assert_eq!(machine.entry, "MEntry");
    assert_eq!(
        machine.status_field, "status",
        "status_field defaults to `status`"
    );
    assert!(!machine.consume_all, "consume-all defaults to off");
    assert!(machine.finality_states.is_empty());
    assert!(machine.entry_funcs.is_empty());
}

#[test]
fn explicit_header_options_are_kept() {
    let machine = lower_to_ir(quote! {
        machine M {
            state: Rec, status: S, event: E, input: MInput, entry: MEntry,
            status_field: state_key,
            consume_all_events_before_entry_funcs: true,
        }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap();
    assert_eq!(machine.status_field, "state_key");
    assert!(machine.consume_all);
}

#[test]
fn attributes_on_input_and_entry_are_kept_for_the_generated_items() {
    let machine = lower_to_ir(quote! {
        machine M {
            state: Rec, status: S, event: E,
            #[derive(Clone, PartialEq)]
            input: MInput,
            #[doc(alias = "handlers")]
            entry: MEntry,
        }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap();
    assert_eq!(
        machine.input_attrs,
        vec![parse_quote!(#[derive(Clone, PartialEq)])]
    );
    assert_eq!(
        machine.entry_attrs,
        vec![parse_quote!(#[doc(alias = "handlers")])]
    );

    let errors = lower_to_ir(quote! {
        machine M { #[derive(Clone)] state: Rec, status: S, event: E, input: MInput, entry: MEntry }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "attributes are allowed on `input` and `entry` only (they go on the generated enum and \
          trait), not on `state`"
        ]
    );
}

#[test]
fn borrowed_payloads_are_rejected_and_left_out_of_the_payload() {
    let errors = machine! {
        events { Event(E::Go).From(S::A).To(S::B).Action(|rec: &mut Rec, name: &str| Ok(())) }
    }
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "a payload parameter cannot borrow (`&str`): inputs are queued and sent between tasks, \
          so the payload must own its data (use `String`)"
        ]
    );
}

#[test]
fn specific_sources_beat_from_any_whatever_the_declaration_order() {
    let any_first = machine! {
        events { Event(E::Cancel).FromAny().To(S::Cancelling).From(S::Failing).ToJustRecord() }
    }
    .unwrap();
    let any_last = machine! {
        events { Event(E::Cancel).From(S::Failing).ToJustRecord().FromAny().To(S::Cancelling) }
    }
    .unwrap();
    for machine in [&any_first, &any_last] {
        let event = &machine.events[0];
        assert_eq!(
            event.arms,
            vec![arm(parse_quote!(S::Failing), Destination::JustRecord)]
        );
        assert_eq!(
            event.any,
            Some(Destination::To(parse_quote!(S::Cancelling)))
        );
    }
    // The declared groups keep the written order for the table description.
    assert_eq!(
        any_first.events[0].groups[0].sources,
        Sources::Any,
        "groups are kept in declaration order"
    );
}

#[test]
fn from_many_is_flattened_into_one_arm_per_source_and_kept_whole_in_groups() {
    let machine = machine! {
        events {
            Event(E::Pay)
                .FromMany(S::Ongoing, S::Unsealed).To(S::FundsNeeded)
                .From(S::FundsNeeded).ToJustRecord()
        }
    }
    .unwrap();
    let event = &machine.events[0];
    assert_eq!(
        event.arms,
        vec![
            arm(
                parse_quote!(S::Ongoing),
                Destination::To(parse_quote!(S::FundsNeeded))
            ),
            arm(
                parse_quote!(S::Unsealed),
                Destination::To(parse_quote!(S::FundsNeeded))
            ),
            arm(parse_quote!(S::FundsNeeded), Destination::JustRecord),
        ]
    );
    assert_eq!(
        event.groups,
        vec![
            Group {
                sources: Sources::States(vec![parse_quote!(S::Ongoing), parse_quote!(S::Unsealed)]),
                destination: Destination::To(parse_quote!(S::FundsNeeded)),
            },
            Group {
                sources: Sources::States(vec![parse_quote!(S::FundsNeeded)]),
                destination: Destination::JustRecord,
            },
        ]
    );
    assert_eq!(event.any, None);
}

#[test]
fn no_change_and_just_record_are_distinct_destinations() {
    let machine = machine! {
        events {
            Event(E::Poke).From(S::A).ToNoChange().From(S::B).ToJustRecord().From(S::C).To(S::C)
        }
    }
    .unwrap();
    assert_eq!(
        machine.events[0].arms,
        vec![
            arm(parse_quote!(S::A), Destination::NoChange),
            arm(parse_quote!(S::B), Destination::JustRecord),
            arm(parse_quote!(S::C), Destination::To(parse_quote!(S::C))),
        ]
    );
}

#[test]
fn inline_action_payload_is_the_parameters_after_the_state() {
    let machine = machine! {
        events {
            Event(E::Accept)
                .Action(|rec: &mut Rec, channel: ChannelId, n: u64| { rec.n = n; Ok(()) })
                .From(S::New).To(S::Unsealing)
        }
    }
    .unwrap();
    let action = machine.events[0].action.as_ref().unwrap();
    assert_eq!(
        action.payload,
        vec![
            PayloadParam {
                pat: Some(parse_quote!(channel)),
                ty: parse_quote!(ChannelId)
            },
            PayloadParam {
                pat: Some(parse_quote!(n)),
                ty: parse_quote!(u64)
            },
        ]
    );
    let ActionKind::Inline {
        state_pat, output, ..
    } = &action.kind
    else {
        panic!("expected an inline action, got {action:?}");
    };
    assert_eq!(*state_pat, parse_quote!(rec));
    assert_eq!(*output, syn::ReturnType::Default);
    assert_eq!(machine.events[0].variant, "Accept");
}

#[test]
fn shared_action_payload_comes_from_its_signature() {
    let machine = machine! {
        events {
            Event(E::UnsealError).From(S::Unsealing).To(S::Failing)
                .Action(record_error as fn(&mut Rec, ProviderError)),
            Event(E::TransferError).FromAny().To(S::Errored)
                .Action(record_error as fn(&mut Rec, ProviderError)),
        }
    }
    .unwrap();
    for event in &machine.events {
        assert_eq!(
            event.action,
            Some(Action {
                kind: ActionKind::Shared {
                    function: parse_quote!(record_error)
                },
                payload: vec![PayloadParam {
                    pat: None,
                    ty: parse_quote!(ProviderError)
                }],
            })
        );
    }
}

#[test]
fn entry_funcs_serve_several_states_and_finality_keeps_order() {
    let machine = machine! {
        events { Event(E::Go).From(S::A).To(S::B) }
        finality_states { S::Errored, S::Completed, S::Cancelled }
        entry_funcs {
            S::Unsealing => unseal_data,
            S::FundsNeeded | S::FundsNeededUnseal | S::FundsNeededLastPayment => update_funding,
        }
    }
    .unwrap();
    assert_eq!(
        machine.finality_states,
        vec![
            parse_quote!(S::Errored),
            parse_quote!(S::Completed),
            parse_quote!(S::Cancelled),
        ]
    );
    assert_eq!(
        machine.entry_funcs,
        vec![
            EntryFunc {
                name: parse_quote!(unseal_data),
                states: vec![parse_quote!(S::Unsealing)]
            },
            EntryFunc {
                name: parse_quote!(update_funding),
                states: vec![
                    parse_quote!(S::FundsNeeded),
                    parse_quote!(S::FundsNeededUnseal),
                    parse_quote!(S::FundsNeededLastPayment),
                ],
            },
        ]
    );
}

#[test]
fn one_entry_func_may_be_mapped_on_several_lines_as_go_writes_it() {
    let machine = machine! {
        events { Event(E::Go).From(S::A).To(S::B) }
        entry_funcs {
            S::FundsNeeded => update_funding,
            S::Unsealing => unseal_data,
            S::FundsNeededUnseal | S::FundsNeededLastPayment => update_funding,
        }
    }
    .unwrap();
    assert_eq!(
        machine.entry_funcs,
        vec![
            EntryFunc {
                name: parse_quote!(update_funding),
                states: vec![
                    parse_quote!(S::FundsNeeded),
                    parse_quote!(S::FundsNeededUnseal),
                    parse_quote!(S::FundsNeededLastPayment),
                ],
            },
            EntryFunc {
                name: parse_quote!(unseal_data),
                states: vec![parse_quote!(S::Unsealing)]
            },
        ],
        "one trait method per func, serving the statuses of all its lines in order"
    );
}

#[test]
fn a_status_mapped_twice_is_an_error_whatever_the_func() {
    let errors = machine! {
        events { Event(E::Go).From(S::A).To(S::B) }
        entry_funcs { S::A => work, S::B => work, S::A => work, S::B | S::B => report }
    }
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "state `S::A` is already mapped to `work`: list each state once in `entry_funcs`",
            "duplicate entry func for state `S::B`: it is already mapped to `work`",
            "duplicate entry func for state `S::B`: it is already mapped to `work`",
        ]
    );
}

#[test]
fn the_runtime_path_defaults_to_fsm_runtime_and_crate_overrides_it() {
    let machine = machine! { events { Event(E::Go).From(S::A).To(S::B) } }.unwrap();
    assert_eq!(machine.runtime, parse_quote!(::fsm_runtime));

    let machine = lower_to_ir(quote! {
        machine M {
            state: Rec, status: S, event: E, input: MInput, entry: MEntry,
            crate: ::fsm,
        }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap();
    assert_eq!(machine.runtime, parse_quote!(::fsm));

    let expanded = fsm_codegen::expand(quote! {
        machine M {
            crate: crate::reexports::fsm,
            state: Rec, status: S, event: E, input: MInput, entry: MEntry,
        }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .to_string();
    assert!(!expanded.contains("fsm_runtime"), "{expanded}");
    let module = fsm_codegen::codegen::private_module().to_string();
    assert!(
        expanded.contains(&format!("crate :: reexports :: fsm :: {module} :: Machine")),
        "{expanded}"
    );
}

#[test]
fn crate_is_a_header_field_like_the_others() {
    let errors = lower_to_ir(quote! {
        machine M {
            state: Rec, status: S, event: E, input: MInput, entry: MEntry,
            crate: ::a, crate: ::b,
        }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap_err();
    assert_eq!(errors, ["duplicate header field `crate`"]);

    let errors = lower_to_ir(quote! {
        machine M { state: Rec, status: S, event: E, input: MInput, entry: MEntry, crate = ::a }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap_err();
    assert_eq!(
        errors,
        ["header fields are written with a colon: `crate: ..`"]
    );
}

#[test]
fn an_empty_header_field_is_named_with_what_it_needs() {
    let errors = lower_to_ir(quote! {
        machine M { state: Rec, status: S, event: , input: MInput, entry: }
        events { Event(E::Go).From(S::A).To(S::B) }
    })
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "`event:` needs a type name: the event-code enum, e.g. `event: DealEvent`",
            "`entry:` needs a type name: the name of the generated entry trait, e.g. \
             `entry: DealEntry`",
        ],
        "each empty field is named, and not reported as missing as well"
    );
}

#[test]
fn an_event_without_transitions_is_legal_and_has_no_arms() {
    let machine = machine! { events { Event(E::Ghost) } }.unwrap();
    let event = &machine.events[0];
    assert!(event.arms.is_empty());
    assert_eq!(event.any, None);
    assert_eq!(event.action, None);
}

#[test]
fn every_error_of_an_invocation_is_reported_together() {
    let errors = machine! {
        events {
            Event(E::Go).From(S::A).To(S::B).From(S::A).To(S::C),
            Event(E::Back).Form(S::B).To(S::A),
            Event(E::Go).FromAny().ToNoChange(),
        }
        finality_states { S::Done, S::Done }
    }
    .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "unknown builder word `Form`; did you mean `From`?",
            "duplicate transition source `S::A` for event `E::Go`",
            "duplicate event `E::Go`: declare each event once, with all of its `From…`/`To…` \
             groups in one chain",
            "duplicate finality state `S::Done`",
        ]
    );
}

#[test]
fn an_unreadable_call_does_not_cascade_into_pairing_errors() {
    let errors = machine! { events { Event(E::Back).Form(S::B).To(S::A) } }.unwrap_err();
    assert_eq!(
        errors,
        ["unknown builder word `Form`; did you mean `From`?"]
    );
    let errors = machine! { events { Event(E::Back).From(S::B) } }.unwrap_err();
    assert_eq!(
        errors,
        [
            "`From` has no destination in event `E::Back`: follow it with `To(..)`, \
          `ToNoChange()` or `ToJustRecord()`"
        ]
    );
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    for tokens in [
        quote! {},
        quote! { machine },
        quote! { pub machine M },
        quote! { pub struct M {} },
        quote! { machine M { state: } },
        quote! { machine M { state: Rec, } events { Event() } },
        quote! { machine M { state: Rec, } events { Event(E::A).From(1 + 2).To() } },
        quote! { machine M { state: Rec, } events { 42 } entry_funcs { => f } },
        quote! { machine M { state: Rec, } events { Event(E::A).Action() .Action(|| Ok(())) } },
    ] {
        let errors = lower_to_ir(tokens.clone()).expect_err("malformed input must not lower");
        assert!(!errors.is_empty(), "no error for `{tokens}`");
        // The full expansion must not panic either, and must carry a compile_error!.
        let expanded = fsm_codegen::expand(tokens).to_string();
        assert!(
            expanded.contains("compile_error"),
            "no compile_error in `{expanded}`"
        );
    }
}
