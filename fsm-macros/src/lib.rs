//! The `fsm!` procedural macro.
//!
//! This crate is a thin shim: the whole pipeline (parse → validate → lower → codegen) lives in
//! [`fsm_codegen`], an ordinary library, so that its stages can be unit-tested, snapshot-tested
//! and benchmarked without a compiler in the loop. Use the macro through its re-export,
//! `fsm_runtime::fsm`, whose documentation is the DSL reference; the documentation of [`fsm!`]
//! below adds the `crate` header field, the group constructor every machine gets, and the bounds
//! the table's types must satisfy.

use proc_macro::TokenStream;

/// Declares a state machine from a go-statemachine style table.
///
/// The table syntax, the generated items and the transition semantics are documented with the
/// re-export, `fsm_runtime::fsm`. What follows covers the runtime path, the group constructor and
/// the bounds.
///
/// # The `crate` header field
///
/// The generated code names the runtime crate by an absolute path, `::fsm_runtime` unless the
/// header says otherwise. A crate that depends on the runtime under another name
/// (`fsm = { package = "fsm-runtime", .. }` in its manifest), or that reaches it through a
/// facade crate re-exporting it (`pub use fsm_runtime;`), says where it is with `crate`, written
/// like the other header fields:
///
/// ```text
/// fsm::fsm! {
///     pub machine DoorFsm {
///         crate: ::fsm,                 // or `crate: ::facade::fsm_runtime`
///         state: Door,
///         ..
///     }
///     ..
/// }
/// ```
///
/// The value is a module path without generic arguments; start it with `::` so that no local
/// module of the same name can shadow it. Every generated item reaches the runtime through that
/// path only.
///
/// The generated code goes through a hidden module of the runtime named after the macro's
/// major and minor version, `<crate>::__private_v0_1` for this release. A macro and a runtime
/// from different releases therefore fail to compile with ``could not find `__private_vX_Y` in
/// `fsm_runtime` ``: that message means the two crates' versions differ, and updating them
/// together (`cargo update -p fsm-runtime -p fsm-macros`) fixes it.
///
/// # The group constructor
///
/// Every machine gets an inherent associated function `group` (so the machine type cannot have
/// another inherent function of that name); for `pub machine DoorFsm { .., entry: DoorEntry }`:
///
/// ```text
/// pub fn group<H: DoorEntry, I: MachineId, S>(store: S, handler: H)
///     -> GroupBuilder<DoorFsm, H, I, S>
/// ```
///
/// It is `Group::builder(store, handler)` with the machine type filled in. `Group::builder`
/// cannot infer the machine from its arguments (`type annotations needed for
/// Group<_, Env, u64, MemoryStore>`); with `DoorFsm::group` the machine is fixed and the id type
/// is inferred from the first `begin`, so the common case needs no annotation:
///
/// ```text
/// let group = CounterFsm::group(MemoryStore::new(), Env).open().await?;
/// group.begin(7_u64, Counter { status: CounterStatus::Counting, total: 0 }).await?;
/// ```
///
/// The section "Running machines in a group" of `fsm_runtime::fsm` has this example whole, as a
/// doctest (it needs the runtime, which this crate cannot depend on).
///
/// # Bounds
///
/// What the types named in the header must implement, and where each bound comes from.
///
/// **Always** (the `Machine` trait and the generated code):
///
/// * `state`: `Clone + Debug + Send + Sync + 'static`, with a field (`status` unless
///   `status_field` names another) of the `status` type. `Clone` is what lets a failing action
///   leave the state untouched: an action runs on a copy.
/// * `status`: `Copy + Eq + Hash + Debug + Send + Sync + 'static`. The table uses its values as
///   `match` patterns and in a `static` description of the table, so they are unit variants or
///   constants, and a constant's type must derive `PartialEq` and `Eq` to be usable as a pattern.
/// * `event`: `Copy + Eq + Hash + Debug + Send + Sync + 'static`, its values unit variants or
///   constants (they are written into the same `static`, and returned by the `const fn code`
///   of the generated input enum).
/// * Action payload types (the closure's parameters after the state, or the types after
///   `&mut State` in a shared action's signature): `Debug + Send + 'static` and owned (no
///   references), since inputs are queued and sent between tasks. Derives written on the
///   `input` field (`#[derive(Clone, PartialEq)] input: DoorInput`) need every payload type to
///   implement them too.
/// * Actions return `ActionResult`, or `Result<(), E>` for an `E` that converts into
///   `ActionError` (`Box<dyn Error + Send + Sync>`: any `Error + Send + Sync + 'static`,
///   `String`, `&str`).
/// * The environment implementing the generated entry trait: `Send + Sync + 'static` (the
///   trait's supertraits), and the future each entry func returns is `Send` (an `async fn`
///   whose locals held across `.await` are `Send`).
///
/// **To run machines in a group** (`Group`, `GroupBuilder::open`):
///
/// * the id type: `MachineId` (implemented for `u64`, `String` and `Vec<u8>`);
/// * the store: `Store` (`MemoryStore`, `RedbStore`, or another implementation);
/// * the record codec: `Codec<State>`; with the default DAG-CBOR codec that means
///   `state: Serialize + DeserializeOwned` (serde).
///
/// **To draw or check the table** (only where these functions are called):
///
/// * `diagram::mermaid`, `diagram::plantuml`, `diagram::render` and `diagram::Diagram::new`:
///   `status: Ord + Display` (states are drawn in `Ord` order under their `Display` text) and
///   `event: Display` (the edge labels);
/// * `analysis::analyze`: `status: Ord`; showing its findings (`Display` on `Finding`) needs
///   `status: Display` and `event: Display`.
#[proc_macro]
pub fn fsm(input: TokenStream) -> TokenStream {
    fsm_codegen::expand(input.into()).into()
}
